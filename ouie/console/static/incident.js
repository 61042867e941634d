// The incident page: facts, sensors, camera snapshot and cue approval, triage actions.
"use strict";

const incidentId = new URLSearchParams(window.location.search).get("id");
let snapshotCamera = null;
let snapshotPath = null;
let shown = null;
let reasonDefaulted = false;
const mini = { map: null, layers: [], sensors: [], cameras: [], spanM: Infinity, centred: false };
const NO_CURRENT_VIEW = " — no current view (the camera sends none now)";

function fact(list, name, value) {
  list.append(ouie.text("dt", name), ouie.text("dd", value));
}

// Whether the fix means a place on this site: a circle wider than the site says nothing.
function locatedHere(incident) {
  return incident.lat !== null && (incident.uncertainty_m || 0) <= mini.spanM;
}

// The 95 % ellipse as a polygon: semi-axes a (along the bearing φ of the major axis) and b;
// east = a cosθ sinφ + b sinθ cosφ, north = a cosθ cosφ − b sinθ sinφ.
function ellipseRing(incident) {
  const e = incident.ellipse;
  const phi = (e.orientation_deg * Math.PI) / 180;
  const ring = [];
  for (let k = 0; k < 48; k += 1) {
    const t = (k * 2 * Math.PI) / 48;
    const east = e.semi_major_m * Math.cos(t) * Math.sin(phi) + e.semi_minor_m * Math.sin(t) * Math.cos(phi);
    const north = e.semi_major_m * Math.cos(t) * Math.cos(phi) - e.semi_minor_m * Math.sin(t) * Math.sin(phi);
    ring.push(ouie.offset(incident.lat, incident.lon, (Math.atan2(east, north) * 180) / Math.PI, Math.hypot(east, north)));
  }
  return ring;
}

// The small map: the fix, its 95 % ellipse (or circle), the sensors that heard it, and the
// view cone of the camera cued for it; never an ellipse wider than the site.
function drawMiniMap(incident) {
  if (!mini.map) return;
  mini.layers.forEach((layer) => layer.remove());
  mini.layers = [];
  const note = document.getElementById("minimap-note");
  const add = (layer) => { mini.layers.push(layer.addTo(mini.map)); return layer; };
  const used = new Set(incident.sensors_used);
  for (const sensor of mini.sensors) {
    add(L.circleMarker([sensor.lat, sensor.lon], {
      radius: used.has(sensor.id) ? 5 : 3, weight: 1, color: "#0b0e12",
      fillColor: used.has(sensor.id) ? "#46a758" : "#6e7681", fillOpacity: 1,
    }).bindTooltip(used.has(sensor.id) ? `${sensor.id} heard it` : sensor.id));
  }
  const cue = incident.cues.find((c) => c.state === "executed") || incident.cues[0];
  const camera = cue && mini.cameras.find((c) => c.id === cue.camera_id);
  if (camera) {
    add(L.polygon(ouie.viewCone(camera, 80), { color: "#7cc4ff", weight: 1, fillOpacity: 0.2 }))
      .getElement()?.setAttribute("data-cone", camera.id);
    add(L.marker([camera.lat, camera.lon], {
      icon: L.divIcon({ className: "camera-icon", html: "■", iconSize: [14, 14] }), title: camera.id,
    }).bindTooltip(`${camera.id}, looking ${camera.bearing_deg.toFixed(0)}°`));
  }
  if (incident.lat === null && incident.hyperbola) {
    add(L.polyline(incident.hyperbola, { color: "#e5484d", weight: 2, dashArray: "6 4" }));
    note.textContent = "on this line: only two sensors heard it";
  } else if (incident.lat !== null && !locatedHere(incident)) {
    note.textContent = `not located: ±${Math.round(incident.uncertainty_m)} m is wider than the site, so no circle is drawn`;
  } else if (incident.lat !== null) {
    const style = { color: "#e5484d", weight: 2, fillOpacity: 0.15 };
    const area = incident.ellipse
      ? add(L.polygon(ellipseRing(incident), style))
      : add(L.circle([incident.lat, incident.lon], { ...style, radius: incident.uncertainty_m || 1 }));
    area.getElement()?.setAttribute("data-ellipse", incident.ellipse ? "ellipse" : "circle");
    add(L.circleMarker([incident.lat, incident.lon], { color: "#e5484d", radius: 5, fillOpacity: 0.8 }));
    note.textContent = incident.ellipse
      ? `95 % ellipse ${incident.ellipse.semi_major_m.toFixed(1)} × ${incident.ellipse.semi_minor_m.toFixed(1)} m`
      : `95 % circle ±${(incident.uncertainty_m || 0).toFixed(1)} m`;
  } else if (incident.video) {
    note.textContent = `no position: seen in zone ${incident.video.zone} of camera ${incident.video.camera_id}'s own view`;
  } else {
    note.textContent = "no position";
  }
  if (!mini.centred) {
    const points = mini.layers.flatMap((layer) => (layer.getBounds ? [layer.getBounds()] : [L.latLngBounds([layer.getLatLng()])]));
    const focus = incident.lat !== null && locatedHere(incident)
      ? L.latLngBounds([[incident.lat, incident.lon]]).pad(0)
      : null;
    const bounds = points.reduce((all, b) => all.extend(b), L.latLngBounds(points[0] || []));
    if (focus && camera) mini.map.fitBounds(focus.extend([camera.lat, camera.lon]), { padding: [30, 30], maxZoom: 19 });
    else if (focus) mini.map.setView([incident.lat, incident.lon], 18);
    else if (bounds.isValid()) mini.map.fitBounds(bounds, { padding: [20, 20] });
    mini.centred = true;
  }
}

async function buildMiniMap(overview) {
  const [sensors, cameras] = await Promise.all([ouie.api("sensors"), ouie.api("cameras")]);
  mini.sensors = sensors;
  mini.cameras = cameras;
  mini.spanM = ouie.siteSpanM(sensors);
  mini.map = L.map("minimap", { zoomControl: true, attributionControl: !!overview.tile_url })
    .setView([overview.map.lat, overview.map.lon], overview.map.zoom);
  if (overview.tile_url) {
    L.tileLayer(overview.tile_url, { attribution: overview.tile_attribution, maxZoom: 20 }).addTo(mini.map);
  }
  for (const building of overview.map.buildings) {
    L.polygon(building.ring, { color: "#4a5566", weight: 1, fillColor: "#2e3846", fillOpacity: 0.9 })
      .addTo(mini.map);
  }
}

function renderOutcome(incident) {
  const now = document.getElementById("outcome-now");
  const o = incident.outcome;
  if (!o) {
    now.textContent = "Not recorded yet.";
    return;
  }
  const sent = o.dispatched === null ? "not known whether a unit was sent"
    : o.dispatched ? "a unit was sent" : "no unit was sent";
  const found = { found: "evidence found", nothing: "nothing found", unknown: "what was found is not known" }[o.evidence];
  now.textContent = `${sent}; ${found}${o.note ? ` (${o.note})` : ""} — recorded by ${o.actor}, ${ouie.timeOf(o.at_utc)}`;
  document.getElementById("outcome-dispatched").value = o.dispatched === null ? "" : o.dispatched ? "yes" : "no";
  document.getElementById("outcome-evidence").value = o.evidence;
}

function recordOutcome() {
  const sent = document.getElementById("outcome-dispatched").value;
  act(`incidents/${encodeURIComponent(incidentId)}/outcome`, {
    dispatched: sent === "" ? null : sent === "yes",
    evidence: document.getElementById("outcome-evidence").value,
    note: document.getElementById("outcome-note").value,
  });
}

function render(incident) {
  shown = incident;
  document.getElementById("title").textContent = `Incident ${incident.id}`;
  const facts = document.getElementById("facts");
  facts.replaceChildren();
  const technical = document.getElementById("technical-facts");
  technical.replaceChildren();
  fact(facts, "Class", incident.class);
  fact(facts, "Onset", ouie.timeOf(incident.onset_utc));
  if (incident.video) {
    const seen = incident.video;
    fact(facts, "Seen by camera", `${seen.camera_id}, zone ${seen.zone}`);
    fact(facts, "People", `${seen.people}${seen.ongoing ? " (still going on)" : ""}`);
  }
  fact(facts, "Position", incident.lat === null
    ? (incident.video ? "the camera's view" : "not located (two sensors only)")
    : !locatedHere(incident)
      ? `not located: it could be anywhere over the site (±${Math.round(incident.uncertainty_m)} m)`
      : `${incident.lat.toFixed(6)}, ${incident.lon.toFixed(6)}`);
  fact(facts, "Uncertainty (95 %)", incident.uncertainty_m === null || !locatedHere(incident) ? "—" : `${incident.uncertainty_m.toFixed(1)} m`);
  const how = {
    fix: `located by ${incident.sensors_used.length} sensors`,
    hyperbola: "on a line between two sensors (the map shows it)",
    single: "near the only sensor that heard it",
    area: `heard by ${incident.sensors_used.length} sensors in turn (a siren or alarm on the move): the circle holds them`,
    camera: "seen on a camera's own stream, in a zone drawn on its image",
  };
  const unlocated = incident.lat !== null && !locatedHere(incident);
  fact(facts, "Location", unlocated
    ? `heard by ${incident.sensors_used.length} sensors, but their timings do not pin it down on this site`
    : how[incident.status] || incident.status);
  const shownAs = {
    alert: "an alert: the network confirms it",
    unconfirmed: "unconfirmed: not alerted, fewer sensors heard it than should have",
    context: "context (not an alert)",
  };
  const byProfile = incident.section === "unconfirmed"
    && (incident.reasons[0] || "").startsWith("profile '");
  const shownText = incident.video && incident.section === "alert"
    ? "an alert: the camera's analysis saw it"
    : byProfile ? "unconfirmed: not alerted, a class profile in force holds it back (see why)"
      : shownAs[incident.section] || incident.section;
  fact(facts, "Shown as", shownText);
  if (incident.reasons.length) {
    const why = document.createElement("ul");
    why.className = "reasons";
    for (const reason of incident.reasons) why.append(ouie.text("li", reason));
    facts.append(ouie.text("dt", "Why"), Object.assign(document.createElement("dd"), { id: "why" }));
    document.getElementById("why").append(why);
  }
  if (!incident.video) {
    fact(facts, "Heard by", `${incident.sensors_used.length} sensors`
      + (incident.sensors_rejected.length ? `, ${incident.sensors_rejected.length} left out (see below)` : ""));
  }
  if (incident.cameras_heard.length) {
    fact(facts, "Also heard by cameras", `${incident.cameras_heard.join(", ")} (their own audio detector)`);
  }
  fact(facts, "Decision", incident.disposition || "open");
  fact(technical, "Sensors used", incident.sensors_used.join(", ") || "—");
  fact(technical, "Sensors left out, and why", incident.sensors_rejected.join("; ") || "none");
  fact(technical, "Highest score", incident.score === null ? "—" : incident.score.toFixed(3));
  fact(technical, "Rank", incident.rank);
  fact(technical, "Onset (UTC, as in the audit)", ouie.utcOf(incident.onset_utc));
  fact(technical, "Reports", incident.report_ids.length);
  fact(technical, "Revision", incident.revision);

  const body = document.querySelector("#dispositions tbody");
  body.replaceChildren();
  for (const d of incident.dispositions) {
    const row = document.createElement("tr");
    row.append(ouie.text("td", ouie.timeOf(d.at_utc)), ouie.text("td", d.actor),
      ouie.text("td", d.action, `disp-${d.action}`), ouie.text("td", d.reason || d.note || ""));
    body.append(row);
  }
  renderCues(incident);
  renderOutcome(incident);
  drawMiniMap(incident);
  renderImages(incident);
}

function renderImages(incident) {
  // Saved images: stored only when someone presses a save button (audited), blurred unless a
  // supervisor saved it unblurred with a reason; deleted with the incident by retention.
  document.getElementById("save-image").hidden = !incident.video;
  const box = document.getElementById("images");
  box.replaceChildren();
  for (const image of incident.images) {
    const figure = document.createElement("figure");
    figure.className = "saved-image";
    const mayOpen = image.blurred || ouie.session.permissions.includes("save_unblurred_image");
    if (mayOpen) {
      const img = document.createElement("img");
      img.className = "snapshot";
      img.alt = `image ${image.id} saved by ${image.saved_by}`;
      img.src = `api/incidents/${encodeURIComponent(incident.id)}/images/${image.id}`;
      figure.append(img);
    }
    const how = image.blurred ? "people blurred" : `UNBLURRED — ${image.reason}`;
    figure.append(ouie.text("figcaption",
      `Saved by ${image.saved_by} at ${ouie.timeOf(image.saved_at_utc)} from ${image.camera_id} (${how})`));
    box.append(figure);
  }
}

function saveImage(blurred) {
  const body = { blurred };
  if (!blurred) {
    const reason = window.prompt("Why must this image be kept unblurred? (recorded in the audit trail)");
    if (!reason) return;
    body.reason = reason;
  }
  act(`incidents/${encodeURIComponent(incidentId)}/images`, body);
}

function renderCues(incident) {
  const box = document.getElementById("cues");
  box.replaceChildren();
  const mayApprove = ouie.session.permissions.includes("approve_cue");
  for (const cue of incident.cues) {
    const line = document.createElement("div");
    line.className = "actions";
    const ptz = cue.pan_deg === null ? "" :
      ` pan ${cue.pan_deg.toFixed(1)}°, tilt ${cue.tilt_deg.toFixed(1)}°, zoom ${cue.zoom.toFixed(2)}`;
    line.append(ouie.text("span", `${cue.camera_id}: ${cue.state}${ptz}`));
    if (cue.state === "suggested" && mayApprove) {
      const approve = ouie.text("button", "Approve camera", "primary");
      approve.id = `approve-${cue.id}`;
      approve.addEventListener("click", () => act(`incidents/${encodeURIComponent(incident.id)}/cues/${cue.id}/approve`, {}));
      const decline = ouie.text("button", "Decline");
      decline.id = `decline-${cue.id}`;
      decline.addEventListener("click", () => act(`incidents/${encodeURIComponent(incident.id)}/cues/${cue.id}/decline`, {}));
      line.append(approve, decline);
    }
    box.append(line);
  }
  const cue = incident.cues.find((c) => c.state === "executed") || incident.cues[0];
  snapshotCamera = cue ? cue.camera_id : null;
  snapshotPath = cue ? `cameras/${encodeURIComponent(cue.camera_id)}` : null;
  let note = cue
    ? `Live view of ${cue.camera_id} (refreshed every 2 s)`
    : "No camera was proposed for this place.";
  if (incident.video && !reasonDefaulted) {
    // Fireworks, construction, vehicles are sounds' confusions: a camera's event starts at "other".
    document.getElementById("dismiss-reason").value = "other";
    reasonDefaulted = true;
  }
  if (incident.video) {
    // A video event: the current view of the camera that saw it, people blurred.
    snapshotCamera = incident.video.camera_id;
    snapshotPath = `video/${encodeURIComponent(incident.video.camera_id)}`;
    note = `Current view of ${incident.video.camera_id}, people blurred (refreshed every 2 s)`;
  }
  document.getElementById("camera-note").textContent = note;
  refreshSnapshot();
}

function refreshSnapshot() {
  const img = document.getElementById("snapshot");
  if (!snapshotPath) {
    img.hidden = true;
    return;
  }
  // Shown once a picture arrives; a camera with no current view (409, offline) shows none.
  const note = document.getElementById("camera-note");
  img.onload = () => {
    img.hidden = false;
    note.textContent = note.textContent.replace(NO_CURRENT_VIEW, "");
  };
  img.onerror = () => {
    img.hidden = true;
    if (!note.textContent.endsWith(NO_CURRENT_VIEW)) note.textContent += NO_CURRENT_VIEW;
  };
  img.src = `api/${snapshotPath}/snapshot?t=${Date.now()}`;
}

async function load() {
  render(await ouie.api(`incidents/${encodeURIComponent(incidentId)}`));
}

async function act(path, body) {
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    render(await ouie.api(path, { method: "POST", body }));
  } catch (problem) {
    error.textContent = problem.message;
  }
}

function dispose(action) {
  const body = { action, note: document.getElementById("note").value };
  if (action === "dismiss") body.reason = document.getElementById("dismiss-reason").value;
  act(`incidents/${encodeURIComponent(incidentId)}/disposition`, body);
}

async function start() {
  await ouie.requireLogin();
  const overview = await ouie.showCueBanner();
  await buildMiniMap(overview);
  document.getElementById("outcome-save").addEventListener("click", recordOutcome);
  document.getElementById("confirm").addEventListener("click", () => dispose("confirm"));
  document.getElementById("escalate").addEventListener("click", () => dispose("escalate"));
  document.getElementById("dismiss").addEventListener("click", () => dispose("dismiss"));
  document.getElementById("save-blurred").addEventListener("click", () => saveImage(true));
  document.getElementById("save-unblurred").addEventListener("click", () => saveImage(false));
  // Keyboard: c confirm, e escalate, d dismiss (with the reason selected), when allowed.
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName);
    const keys = { c: "confirm", e: "escalate", d: "dismiss" };
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !keys[event.key]) return;
    if (!ouie.session.permissions.includes("triage")) return;
    dispose(keys[event.key]);
  });
  try {
    await load();
  } catch (problem) {
    document.getElementById("error").textContent = problem.message;
    return;
  }
  ouie.listen({
    // Reload (an audited view) only when the incident really changed.
    incident: (incident) => {
      const changed = incident.revision !== shown.revision
        || incident.disposition !== shown.disposition;
      if (incident.id === incidentId && changed) load();
    },
    camera: (camera) => { if (camera.id === snapshotCamera) refreshSnapshot(); },
  });
  setInterval(refreshSnapshot, 2000);
  document.body.dataset.ready = "true";
}

start();
