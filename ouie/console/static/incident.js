// The incident page: facts, sensors, camera snapshot and cue approval, triage actions.
"use strict";

const incidentId = new URLSearchParams(window.location.search).get("id");
let snapshotCamera = null;
let snapshotPath = null;
let shown = null;
let reasonDefaulted = false;
const NO_CURRENT_VIEW = " — no current view (the camera sends none now)";

function fact(list, name, value) {
  list.append(ouie.text("dt", name), ouie.text("dd", value));
}

function render(incident) {
  shown = incident;
  document.getElementById("title").textContent = `Incident ${incident.id}`;
  const facts = document.getElementById("facts");
  facts.replaceChildren();
  fact(facts, "Class", incident.class);
  fact(facts, "Onset", ouie.timeOf(incident.onset_utc));
  if (incident.video) {
    const seen = incident.video;
    fact(facts, "Seen by camera", `${seen.camera_id}, zone ${seen.zone}`);
    fact(facts, "People", `${seen.people}${seen.ongoing ? " (still going on)" : ""}`);
  }
  fact(facts, "Position", incident.lat === null
    ? (incident.video ? "the camera's view" : "not located (two sensors only)")
    : `${incident.lat.toFixed(6)}, ${incident.lon.toFixed(6)}`);
  fact(facts, "Uncertainty (95 %)", incident.uncertainty_m === null ? "—" : `${incident.uncertainty_m.toFixed(1)} m`);
  const how = {
    fix: `located by ${incident.sensors_used.length} sensors`,
    hyperbola: "on a line between two sensors (the map shows it)",
    single: "near the only sensor that heard it",
    area: `heard by ${incident.sensors_used.length} sensors in turn (a siren or alarm on the move): the circle holds them`,
    camera: "seen on a camera's own stream, in a zone drawn on its image",
  };
  fact(facts, "Location", how[incident.status] || incident.status);
  const shownAs = {
    alert: "an alert: the network confirms it",
    unconfirmed: "unconfirmed: not alerted, fewer sensors heard it than should have",
    context: "context (not an alert)",
  };
  const shownText = incident.video && incident.section === "alert"
    ? "an alert: the camera's analysis saw it"
    : shownAs[incident.section] || incident.section;
  fact(facts, "Shown as", shownText);
  if (incident.reasons.length) {
    const why = document.createElement("ul");
    why.className = "reasons";
    for (const reason of incident.reasons) why.append(ouie.text("li", reason));
    facts.append(ouie.text("dt", "Why"), Object.assign(document.createElement("dd"), { id: "why" }));
    document.getElementById("why").append(why);
  }
  fact(facts, "Sensors used", incident.sensors_used.join(", ") || "—");
  fact(facts, "Sensors left out", incident.sensors_rejected.join(", ") || "—");
  if (incident.cameras_heard.length) {
    fact(facts, "Also heard by cameras", `${incident.cameras_heard.join(", ")} (their own audio detector)`);
  }
  fact(facts, "Revision", incident.revision);
  fact(facts, "Decision", incident.disposition || "open");

  const body = document.querySelector("#dispositions tbody");
  body.replaceChildren();
  for (const d of incident.dispositions) {
    const row = document.createElement("tr");
    row.append(ouie.text("td", ouie.timeOf(d.at_utc)), ouie.text("td", d.actor),
      ouie.text("td", d.action, `disp-${d.action}`), ouie.text("td", d.reason || d.note || ""));
    body.append(row);
  }
  renderCues(incident);
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
  await ouie.showCueBanner();
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
