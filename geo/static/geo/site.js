/* Behaviour shared by every page, kept out of the HTML so the Content-Security-Policy
   can forbid inline scripts: a <select data-autosubmit> submits its form on change. */
"use strict";
document.addEventListener("change", function (event) {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
