/* Mipaka's map: drill-down, search, aliases and counts, over the JSON API.
 *
 * Plain browser JavaScript on the vendored Leaflet (no build step, no CDN).
 * Every request goes to the same API the integrations use, authenticated by
 * the session cookie; writes send Django's CSRF token.
 */
(function () {
  "use strict";

  const el = document.getElementById("map");
  if (!el || !window.L) return;

  const config = el.dataset;
  const canEdit = config.canEdit === "true";
  const root = { osm_id: config.root || "", name: config.rootName || "World", level: -1 };
  const FILL = "#2387ca";
  const NO_DATA = "#d9d9d9";
  // Sequential, colour-blind safe (ColorBrewer YlGnBu, 5 classes).
  const CLASSES = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];

  const map = L.map(el, { zoomSnap: 0.25, worldCopyJump: false }).setView([0, 0], 2);
  let boundaryLayer = null;
  let highlighted = null;
  let trail = [];
  let selectedOsmId = null;
  let countValues = null;
  let basemap = null;
  let shown = 0; // the latest show(): an earlier one that answers late draws nothing

  const $ = (id) => document.getElementById(id);
  const status = (id, text, isError) => {
    const node = $(id);
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  };

  const api = (url, options) => window.Mipaka.api(url, options, config.csrf);

  const enc = encodeURIComponent;
  // A boundary's name in the workspace's language (display_name), else its own.
  const shownName = (place) => place.display_name || place.name;

  // Zoom bands of the import: coarse shapes for a whole country, finer further in.
  function bandFor(zoom) {
    if (zoom <= 4) return "0";
    if (zoom <= 7) return "1";
    if (zoom <= 10) return "2";
    return "full";
  }

  // A boundary across the antimeridian (west > east) is drawn east of 180°,
  // so New Zealand's Chatham Islands sit beside the main islands.
  function boundsOf(bbox) {
    if (!bbox) return null;
    let [west, south, east, north] = bbox;
    if (west > east) east += 360;
    return L.latLngBounds([south, west], [north, east]);
  }

  function colourFor(osmId) {
    if (!countValues) return FILL;
    const value = countValues.values[osmId];
    if (value === undefined) return NO_DATA;
    const classes = countValues.classes;
    const k = classes.findIndex((c) => value <= c.high);
    return k < 0 ? CLASSES[CLASSES.length - 1] : classes[k].colour;
  }

  // Quantile classes over the distinct values on screen, at most five; with
  // fewer distinct values, one class each, their colours spread over the ramp.
  function classesOf(values) {
    const distinct = Array.from(new Set(values)).sort((a, b) => a - b);
    const k = Math.min(CLASSES.length, distinct.length);
    const classes = [];
    let start = 0;
    for (let i = 1; i <= k; i += 1) {
      const end = Math.ceil((i * distinct.length) / k);
      const colour = k === 1 ? CLASSES[2] : CLASSES[Math.round(((i - 1) * (CLASSES.length - 1)) / (k - 1))];
      classes.push({ low: distinct[start], high: distinct[end - 1], colour });
      start = end;
    }
    return classes;
  }

  function styleOf(feature) {
    return {
      color: "#ffffff",
      weight: 1.5,
      fillColor: colourFor(feature.properties.osm_id),
      fillOpacity: countValues ? 0.85 : 0.7,
    };
  }

  // Leaflet ignores a zoom asked for while another zoom animation runs (the
  // last drill-down's, or a person's own): the map stayed where it was, and
  // shapes drawn outside that view were clipped to "M0 0" and never redrawn.
  // So a new level waits for the map to be still, jumps to its view without
  // animation, and only then adds its shapes, projected for the view they show.
  function whenStill() {
    map.stop();
    if (!map._animatingZoom) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        map.off("zoomend", done);
        resolve();
      };
      // Leaflet ends a zoom animation within 250 ms, by transitionend or a timer.
      const timer = setTimeout(done, 500);
      map.on("zoomend", done);
    });
  }

  function draw(collection, crossesAntimeridian, bounds) {
    if (boundaryLayer) boundaryLayer.remove();
    highlighted = null;
    const layer = L.geoJSON(collection, {
      style: styleOf,
      coordsToLatLng: (c) => L.latLng(c[1], crossesAntimeridian && c[0] < 0 ? c[0] + 360 : c[0]),
      onEachFeature: (feature, layer) => {
        const p = feature.properties;
        const value = () => (countValues && countValues.values[p.osm_id] !== undefined
          ? ": " + formatNumber(countValues.values[p.osm_id]) : "");
        layer.bindTooltip(() => shownName(p) + value(), { sticky: true, className: "boundary-tooltip" });
        layer.on("mouseover", () => layer.setStyle({ weight: 3, fillOpacity: 0.95 }));
        layer.on("mouseout", () => boundaryLayer && boundaryLayer.resetStyle(layer));
        layer.on("click", () => (p.has_children ? show(p.osm_id) : select(p.osm_id)));
      },
    });
    const view = bounds || (collection.features.length ? layer.getBounds() : null);
    if (view) map.fitBounds(view, { padding: [8, 8], animate: false });
    boundaryLayer = layer.addTo(map);
    // Name each shape in the DOM: screen readers and browser tests find it by osm_id.
    boundaryLayer.eachLayer((layer) => {
      const node = layer.getElement && layer.getElement();
      if (node) {
        node.setAttribute("data-osm-id", layer.feature.properties.osm_id);
        node.setAttribute("aria-label", shownName(layer.feature.properties));
      }
    });
    updateLegend();
  }

  async function show(osmId, focusOsmId) {
    const serial = ++shown;
    status("map-status", "Loading…");
    try {
      let bounds = null;
      let crosses = false;
      let url;
      if (osmId) {
        const detail = await api("/api/v1/boundaries/" + enc(osmId));
        trail = detail.ancestors.concat([
          { osm_id: detail.osm_id, name: detail.name, display_name: detail.display_name, level: detail.level },
        ]);
        if (!detail.has_children && detail.ancestors.length) {
          // A leaf: show it among its siblings.
          return show(detail.parent_osm_id, detail.osm_id);
        }
        bounds = boundsOf(detail.bbox);
        crosses = Boolean(detail.bbox && detail.bbox[0] > detail.bbox[2]);
        const zoom = bounds ? map.getBoundsZoom(bounds) : 2;
        url = "/api/v1/boundaries/" + enc(osmId) + "/children.geojson?band=" + bandFor(zoom);
      } else {
        trail = [];
        url = "/api/v1/countries.geojson?band=0";
      }
      const collection = await api(url);
      await whenStill();
      if (serial !== shown) return;
      draw(collection, crosses, bounds);
      renderBreadcrumb();
      status("map-status", "");
      const focus = focusOsmId || (osmId && trail.length > 1 ? osmId : null);
      if (focus) {
        select(focus);
        highlight(focus);
      }
    } catch (error) {
      status("map-status", error.message, true);
    }
  }

  function highlight(osmId) {
    if (!boundaryLayer) return;
    boundaryLayer.eachLayer((layer) => {
      if (layer.feature.properties.osm_id === osmId) {
        layer.setStyle({ color: "#e6550d", weight: 3 });
        highlighted = layer;
        map.flyToBounds(layer.getBounds(), { padding: [24, 24], duration: 0.5 });
      }
    });
  }

  function renderBreadcrumb() {
    const nav = $("breadcrumb");
    nav.textContent = "";
    const steps = [];
    if (!root.osm_id) steps.push({ osm_id: "", name: "World" });
    for (const step of trail) steps.push(step);
    steps.forEach((step, i) => {
      if (i) nav.appendChild(document.createTextNode(" › "));
      if (i === steps.length - 1) {
        const here = document.createElement("span");
        here.textContent = shownName(step);
        here.setAttribute("aria-current", "page");
        nav.appendChild(here);
      } else {
        const link = document.createElement("a");
        link.href = "#" + step.osm_id;
        link.textContent = shownName(step);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          show(step.osm_id);
        });
        nav.appendChild(link);
      }
    });
  }

  async function select(osmId) {
    selectedOsmId = osmId;
    status("alias-status", "");
    try {
      const [detail, aliases] = await Promise.all([
        api("/api/v1/boundaries/" + enc(osmId)),
        api("/api/v1/boundaries/" + enc(osmId) + "/aliases"),
      ]);
      if (selectedOsmId !== osmId) return;
      $("selected").hidden = false;
      $("selected-name").textContent = shownName(detail);
      // The source's name too when the workspace's language names it otherwise (flows store it).
      const source = shownName(detail) !== detail.name ? detail.name + " · " : "";
      $("selected-path").textContent = source + detail.path + " · " + detail.osm_id;
      $("aliases").value = aliases.aliases.join("\n");
    } catch (error) {
      status("alias-status", error.message, true);
    }
  }

  async function saveAliases() {
    if (!selectedOsmId) return;
    const aliases = $("aliases").value.split("\n").map((a) => a.trim()).filter(Boolean);
    status("alias-status", "Saving…");
    try {
      const saved = await api("/api/v1/boundaries/" + enc(selectedOsmId) + "/aliases", {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ aliases }),
      });
      $("aliases").value = saved.aliases.join("\n");
      status("alias-status", "Saved " + saved.aliases.length + " alias" + (saved.aliases.length === 1 ? "" : "es") + ".");
    } catch (error) {
      status("alias-status", error.message, true);
    }
  }

  // Search: the API's own matching (accents, typos, aliases) at every level.
  let searchTimer = null;
  let searchSerial = 0;
  async function search(text) {
    const serial = ++searchSerial;
    const list = $("search-results");
    if (text.trim().length < 2) {
      list.textContent = "";
      return;
    }
    const levels = root.osm_id ? [1, 2, 3] : [0, 1, 2, 3];
    const answers = await Promise.all(
      levels.map((level) =>
        api("/api/v1/match?level=" + level + "&text=" + enc(text)).catch(() => ({ results: [] }))
      )
    );
    if (serial !== searchSerial) return;
    const seen = new Set();
    const results = [];
    for (const answer of answers) {
      for (const result of answer.results) {
        if (!seen.has(result.osm_id)) {
          seen.add(result.osm_id);
          results.push(result);
        }
      }
    }
    results.sort((a, b) => b.match.score - a.match.score || a.level - b.level);
    list.textContent = "";
    if (!results.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No place matches “" + text + "”.";
      list.appendChild(none);
    }
    for (const result of results.slice(0, 10)) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "result";
      button.textContent = shownName(result);
      const where = document.createElement("small");
      const how = { alias: "alias", code: "code", names: "name", other_names: "also" }[result.match.field];
      where.textContent = result.path + (how ? " (" + how + " " + result.match.text + ")" : "");
      button.appendChild(where);
      button.addEventListener("click", () => {
        list.textContent = "";
        show(result.parent_osm_id || "", result.osm_id);
      });
      item.appendChild(button);
      list.appendChild(item);
    }
  }

  // Counts: classes from the values of the boundaries on screen, so each
  // drill-down level gets a legend that spreads its own range.
  function updateLegend() {
    const legend = $("legend");
    legend.textContent = "";
    if (!countValues || !boundaryLayer) return;
    const shown = [];
    boundaryLayer.eachLayer((layer) => {
      const value = countValues.values[layer.feature.properties.osm_id];
      if (value !== undefined) shown.push(value);
    });
    countValues.classes = classesOf(shown);
    boundaryLayer.setStyle(styleOf);
    const title = document.createElement("h3");
    title.textContent = "Legend";
    legend.appendChild(title);
    const entries = countValues.classes.map((c) => [
      c.colour,
      c.low === c.high ? formatNumber(c.low) : formatNumber(c.low) + " – " + formatNumber(c.high),
    ]);
    entries.push([NO_DATA, "no data"]);
    for (const [colour, label] of entries) {
      const row = document.createElement("div");
      row.className = "legend-row";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(label));
      legend.appendChild(row);
    }
  }

  function formatNumber(value) {
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  async function showCounts() {
    const file = $("counts-file").files[0];
    const text = file ? await file.text() : $("counts-text").value;
    if (!text.trim()) {
      status("counts-status", "Choose a file or paste a table first.", true);
      return;
    }
    const isJson = /^\s*[[{]/.test(text);
    status("counts-status", "Matching rows…");
    try {
      const result = await api("/api/v1/counts", {
        method: "POST",
        headers: { "Content-Type": isJson ? "application/json" : "text/csv" },
        body: text,
      });
      countValues = { values: result.values, classes: [] };
      const unmatched = result.unmatched.length;
      status("counts-status", result.matched_rows + " row" + (result.matched_rows === 1 ? "" : "s") +
        " matched" + (unmatched ? ", " + unmatched + " not matched (listed below)" : "") + ".");
      renderUnmatched(result.unmatched);
      updateLegend();
    } catch (error) {
      status("counts-status", error.message, true);
    }
  }

  function renderUnmatched(rows) {
    const box = $("unmatched");
    box.textContent = "";
    if (!rows.length) return;
    const title = document.createElement("h3");
    title.textContent = "Rows not matched";
    box.appendChild(title);
    const list = document.createElement("ul");
    for (const row of rows) {
      const item = document.createElement("li");
      item.textContent = "line " + row.line + ": " + row.reason;
      list.appendChild(item);
    }
    box.appendChild(list);
  }

  function clearCounts() {
    countValues = null;
    $("counts-file").value = "";
    $("unmatched").textContent = "";
    status("counts-status", "");
    $("legend").textContent = "";
    if (boundaryLayer) boundaryLayer.setStyle(styleOf);
  }

  $("search").addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(event.target.value), 250);
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    search($("search").value);
  });
  if (canEdit) $("save-aliases").addEventListener("click", saveAliases);
  $("show-counts").addEventListener("click", showCounts);
  $("clear-counts").addEventListener("click", clearCounts);
  const basemapBox = $("basemap");
  if (basemapBox) {
    basemapBox.addEventListener("change", () => {
      if (basemapBox.checked) {
        basemap = L.tileLayer(config.basemapUrl, {
          maxZoom: 19,
          attribution: "&copy; OpenStreetMap contributors",
        }).addTo(map);
        basemap.bringToBack();
      } else if (basemap) {
        basemap.remove();
        basemap = null;
      }
    });
  }

  show(root.osm_id);
})();
