/* The resolve page: reads the chosen CSV's header in the browser to offer its columns.
   The server reads the file again (it is the one that knows CSV well); this only fills
   the column list and warns of a file over the size limit before it is sent. */
"use strict";
(function () {
  const form = document.getElementById("resolve-form");
  const file = document.getElementById("resolve-file");
  const column = document.getElementById("resolve-column");
  const status = document.getElementById("resolve-status");
  const maxBytes = Number(form.dataset.maxBytes || 0);
  // Names that usually hold locations, to pick the likely column first.
  const LIKELY = /(location|path|state|district|ward|province|region|county|osm|place|boundary)/i;

  function delimiterOf(line) {
    let best = ",", most = 0;
    for (const d of [",", ";", "\t"]) {
      const count = line.split(d).length - 1;
      if (count > most) { best = d; most = count; }
    }
    return best;
  }

  function cellsOf(line, delimiter) {
    const cells = [];
    let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === delimiter) { cells.push(cell.trim()); cell = ""; }
      else cell += c;
    }
    cells.push(cell.trim());
    return cells;
  }

  function firstLine(text) {
    text = text.replace(/^\ufeff/, "");
    // A header is one line unless a quoted cell holds a line break: keep going until quotes close.
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '"') quoted = !quoted;
      else if ((text[i] === "\n" || text[i] === "\r") && !quoted) return text.slice(0, i);
    }
    return text;
  }

  async function readHeader() {
    column.textContent = "";
    status.textContent = "";
    status.classList.remove("error");
    const chosen = file.files[0];
    if (!chosen) return;
    if (maxBytes && chosen.size > maxBytes) {
      status.textContent = chosen.name + " is larger than the limit of " + maxBytes.toLocaleString() + " bytes.";
      status.classList.add("error");
      return;
    }
    const head = await chosen.slice(0, 65536).text();
    const line = firstLine(head);
    const cells = cellsOf(line, delimiterOf(line)).filter((c) => c !== "");
    if (!cells.length) {
      status.textContent = chosen.name + " has no header row.";
      status.classList.add("error");
      return;
    }
    for (const name of cells) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      column.appendChild(option);
    }
    const likely = cells.find((name) => LIKELY.test(name));
    if (likely) column.value = likely;
    status.textContent = cells.length + " columns read from " + chosen.name + ".";
  }

  file.addEventListener("change", readHeader);
  // A file picked before this script ran (a slow page, a quick hand, the browser
  // restoring the form) fired its change event to no one: read it now.
  if (file.files.length) readHeader();
})();
