/* The JSON API client every page of Mipaka uses: the session cookie
 * authenticates, writes carry Django's CSRF token, and an error answer
 * becomes an Error with the API's own message ({"error": {"message"}}).
 */
(function () {
  "use strict";

  async function api(url, options, csrf) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.method && init.method !== "GET") init.headers["X-CSRFToken"] = csrf;
    const response = await fetch(url, init);
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.status + " " + response.statusText;
      throw new Error(message);
    }
    return body;
  }

  window.Mipaka = Object.assign(window.Mipaka || {}, { api });
})();
