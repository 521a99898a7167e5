/* Mipaka's imports page (operators): queue import jobs, check their dry-run
 * diff (a table, and the changed boundaries on a map, before and after),
 * apply them, and watch their progress, over the same JSON API as scripts.
 *
 * Plain browser JavaScript on the vendored Leaflet; the session cookie
 * authenticates, writes send Django's CSRF token.
 */
(function () {
  "use strict";

  const page = document.getElementById("imports");
  if (!page) return;
  const csrf = page.dataset.csrf;
  const maxUpload = Number(page.dataset.maxUpload || 0);
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running"]);
  const CHANGE_COLOURS = { before: "#7f7f7f", after: "#e6550d" };

  let selectedId = null;
  let selectedPoll = null;
  let changesMap = null;
  let changesLayer = null;
  let shownChangesFor = null;

  function status(id, text, isError) {
    const node = $(id);
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  const api = (url, options) => window.Mipaka.api(url, options, csrf);

  function describe(job) {
    if (job.kind === "download") return (job.countries || []).join(", ");
    if (job.file) return job.file.name + (job.file.deleted_at ? " (file deleted)" : "");
    return job.applies ? "apply of #" + job.applies : job.kind;
  }

  function changeSummary(job) {
    const changes = job.run && job.run.counts && job.run.counts.changes;
    if (!changes) return "";
    const parts = Object.entries(changes).filter(([, n]) => n).map(([kind, n]) => n + " " + kind);
    return parts.length ? parts.join(", ") : "no change";
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  // Past runs, newest first; a click shows one. Refreshed while any job is active.
  async function refreshJobs() {
    let jobs = [];
    try {
      jobs = (await api("/api/v1/imports?limit=50")).results;
    } catch (error) {
      status("submit-status", error.message, true);
      return;
    }
    const body = $("jobs").querySelector("tbody");
    body.textContent = "";
    for (const job of jobs) {
      const row = document.createElement("tr");
      row.dataset.jobId = job.id;
      if (job.id === selectedId) row.classList.add("selected");
      const first = cell(row, "");
      const link = document.createElement("a");
      link.href = "#job-" + job.id;
      link.textContent = "#" + job.id;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        selectJob(job.id);
      });
      first.appendChild(link);
      cell(row, when(job.created_at));
      cell(row, describe(job));
      cell(row, job.dry_run ? "dry run" : "import");
      cell(row, job.status, "status-" + job.status);
      cell(row, changeSummary(job));
      body.appendChild(row);
    }
    if (jobs.some((job) => ACTIVE.has(job.status))) setTimeout(refreshJobs, 2000);
  }

  async function selectJob(id) {
    selectedId = id;
    clearTimeout(selectedPoll);
    history.replaceState(null, "", "#job-" + id);
    document.querySelectorAll("#jobs tr.selected").forEach((row) => row.classList.remove("selected"));
    const row = document.querySelector('#jobs tr[data-job-id="' + id + '"]');
    if (row) row.classList.add("selected");
    await showJob();
  }

  async function showJob() {
    const id = selectedId;
    let job;
    try {
      job = await api("/api/v1/imports/" + id);
    } catch (error) {
      status("submit-status", error.message, true);
      return;
    }
    if (id !== selectedId) return;
    $("job").hidden = false;
    $("job-title").textContent = "#" + job.id + " · " + (job.dry_run ? "dry run of " : "import of ") + describe(job);
    $("job-status").textContent = job.status;
    $("job-status").className = "badge status-" + job.status;
    const progress = job.progress || { stage: job.status, done: 0, total: 0 };
    $("job-stage").textContent = progress.total
      ? progress.stage + ": " + progress.done + " of " + progress.total
      : progress.stage;
    const bar = $("job-progress");
    if (job.status === "succeeded") {
      bar.max = 1;
      bar.value = 1;
    } else if (progress.total) {
      bar.max = progress.total;
      bar.value = progress.done;
    } else {
      bar.removeAttribute("value"); // indeterminate while queued
    }
    $("job-error").textContent = job.error || (job.run && job.run.error) || "";
    $("job-summary").textContent = job.status === "succeeded"
      ? (job.dry_run ? "Would change: " : "Changed: ") + (changeSummary(job) || "nothing") +
        (job.attempts > 1 ? " (after " + job.attempts + " attempts)" : "")
      : "";
    $("apply-job").hidden = !(job.dry_run && job.status === "succeeded");
    renderDiff(job);
    if (job.status === "succeeded" && shownChangesFor !== job.id) {
      shownChangesFor = job.id;
      showChanges(job.id);
    }
    if (ACTIVE.has(job.status)) {
      selectedPoll = setTimeout(showJob, 1000);
    } else {
      refreshJobs();
    }
  }

  function renderDiff(job) {
    const body = $("diff").querySelector("tbody");
    body.textContent = "";
    const changes = (job.diff && job.diff.changes) || [];
    for (const change of changes) {
      const row = document.createElement("tr");
      row.dataset.osmId = change.osm_id;
      cell(row, change.change, "change-" + change.change.replace(/\s+/g, "-"));
      cell(row, String(change.level));
      cell(row, change.osm_id);
      cell(row, change.path);
      cell(row, change.detail || "");
      body.appendChild(row);
    }
    if (!changes.length && job.status === "succeeded") {
      const row = document.createElement("tr");
      const td = cell(row, "Nothing would change.", "muted");
      td.colSpan = 5;
      body.appendChild(row);
    }
  }

  // The changed boundaries: as stored before (grey, dashed) and as the
  // import makes them (orange), at a coarse resolution.
  async function showChanges(id) {
    let collection;
    try {
      collection = await api("/api/v1/imports/" + id + "/changes.geojson");
    } catch (error) {
      status("submit-status", error.message, true);
      return;
    }
    if (id !== selectedId) return;
    const box = $("changes-map");
    if (!window.L || !collection.features.length) {
      box.hidden = true;
      $("changes-legend").hidden = true;
      return;
    }
    box.hidden = false;
    $("changes-legend").hidden = false;
    if (!changesMap) changesMap = L.map(box, { zoomSnap: 0.25 }).setView([0, 0], 2);
    if (changesLayer) changesLayer.remove();
    changesLayer = L.geoJSON(collection, {
      style: (feature) => ({
        color: CHANGE_COLOURS[feature.properties.side],
        weight: feature.properties.side === "after" ? 2 : 1.5,
        dashArray: feature.properties.side === "before" ? "4 4" : null,
        fillOpacity: feature.properties.side === "after" ? 0.25 : 0.05,
      }),
      onEachFeature: (feature, layer) => {
        const p = feature.properties;
        layer.bindTooltip(p.name + " (" + p.change + ", " + p.side + ")", { sticky: true });
      },
    });
    // Jump first, then draw: shapes are projected for the view they show.
    changesMap.invalidateSize();
    changesMap.fitBounds(changesLayer.getBounds(), { padding: [8, 8], animate: false });
    changesLayer.addTo(changesMap);
    changesLayer.eachLayer((layer) => {
      const node = layer.getElement && layer.getElement();
      if (node) {
        node.setAttribute("data-osm-id", layer.feature.properties.osm_id);
        node.setAttribute("data-side", layer.feature.properties.side);
      }
    });
  }

  async function submitted(promise) {
    status("submit-status", "Sending…");
    try {
      const job = await promise;
      status("submit-status", "Job #" + job.id + " queued.");
      await refreshJobs();
      await selectJob(job.id);
    } catch (error) {
      status("submit-status", error.message, true);
    }
  }

  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("upload-file").files[0];
    if (!file) return;
    if (maxUpload && file.size > maxUpload) {
      status("submit-status", file.name + " is larger than the limit of " + maxUpload.toLocaleString() + " bytes.", true);
      return;
    }
    const form = new FormData();
    form.append("file", file);
    form.append("dry_run", $("upload-dry-run").checked ? "true" : "false");
    submitted(api("/api/v1/imports", { method: "POST", body: form }));
  });

  $("download-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const countries = $("countries").value.split(",").map((c) => c.trim()).filter(Boolean);
    if (!countries.length) return;
    submitted(api("/api/v1/imports", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ download: countries, dry_run: $("download-dry-run").checked }),
    }));
  });

  $("apply-job").addEventListener("click", () => {
    if (selectedId === null) return;
    submitted(api("/api/v1/imports/" + selectedId + "/apply", { method: "POST" }));
  });

  refreshJobs().then(() => {
    const wanted = /^#job-(\d+)$/.exec(location.hash);
    if (wanted) selectJob(Number(wanted[1]));
  });
})();
