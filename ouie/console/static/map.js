// The live map and incident list: sensors (online/offline), cameras (current heading),
// incidents with their 95 % uncertainty circle, kept current by the live feed.
"use strict";

const CLASS_COLOURS = {
  gunshot: "#e5484d", explosion: "#f76b15", scream: "#d6409f", glass_break: "#3e8ee0",
};
const state = {
  map: null, incidents: new Map(), sensors: new Map(), cameras: new Map(), siteSpanM: Infinity,
  live: false,
};
const SECTIONS = { alert: "incidents", unconfirmed: "unconfirmed", context: "context" };

function colourOf(cls) {
  return CLASS_COLOURS[cls] || "#8b949e";
}

function openIncident(id) {
  window.location.href = "incident.html?id=" + encodeURIComponent(id);
}

function buildMap(overview) {
  const view = overview.map;
  const map = L.map("map", { preferCanvas: false }).setView([view.lat, view.lon], view.zoom);
  if (overview.tile_url) {
    L.tileLayer(overview.tile_url, { attribution: overview.tile_attribution, maxZoom: 20 }).addTo(map);
  }
  for (const building of view.buildings) {
    L.polygon(building.ring, {
      color: "#4a5566", weight: 1, fillColor: "#2e3846", fillOpacity: 0.9,
    }).bindTooltip(building.id || "building").addTo(map);
  }
  state.map = map;
}

function drawSensor(sensor) {
  const old = state.sensors.get(sensor.id);
  if (old) old.marker.remove();
  const marker = L.circleMarker([sensor.lat, sensor.lon], {
    radius: 5, weight: 1, color: "#0b0e12",
    fillColor: sensor.online ? "#46a758" : "#6e7681", fillOpacity: 1,
  }).bindTooltip(`${sensor.id} — ${sensor.online ? "online" : "offline"}`).addTo(state.map);
  marker.getElement()?.setAttribute("data-sensor", sensor.id);
  state.sensors.set(sensor.id, { sensor, marker });
  const online = [...state.sensors.values()].filter((s) => s.sensor.online).length;
  document.getElementById("sensor-count").textContent = `${online}/${state.sensors.size} online`;
}

// A camera: a square marker and a wedge along its current bearing (its horizontal field of view).
function drawCamera(camera) {
  const old = state.cameras.get(camera.id);
  if (old) old.layers.forEach((layer) => layer.remove());
  const wedge = L.polygon(ouie.viewCone(camera), { color: "#7cc4ff", weight: 1, fillOpacity: 0.15 })
    .addTo(state.map);
  const marker = L.marker([camera.lat, camera.lon], {
    icon: L.divIcon({ className: "camera-icon", html: "■", iconSize: [14, 14] }),
    title: camera.id,
  }).bindTooltip(`${camera.id} — bearing ${camera.bearing_deg.toFixed(0)}°`).addTo(state.map);
  state.cameras.set(camera.id, { camera, layers: [wedge, marker] });
  renderCameraTable();
}

function renderCameraTable() {
  const body = document.querySelector("#cameras tbody");
  body.replaceChildren();
  for (const { camera } of [...state.cameras.values()].sort((a, b) => a.camera.id.localeCompare(b.camera.id))) {
    const row = document.createElement("tr");
    row.append(
      ouie.text("td", camera.id),
      ouie.text("td", `${camera.bearing_deg.toFixed(0)}°`),
      ouie.text("td", camera.state || ""),
    );
    body.append(row);
  }
}

// Whether an incident's position means something on this site (not a circle over it all).
function locatable(incident) {
  return incident.lat !== null && (incident.uncertainty_m || 0) <= state.siteSpanM;
}

// A new alert arrived live: a banner, a pulse on its row, a short tone, the count in the title.
function announce(incident) {
  const banner = document.getElementById("new-alert");
  banner.textContent = `New ${incident.class.replace("_", " ")} — ${ouie.timeOf(incident.onset_utc).slice(11)}`;
  banner.hidden = false;
  banner.dataset.incident = incident.id;
  banner.onclick = () => openIncident(incident.id);
  state.fresh = new Set([...(state.fresh || []), incident.id]);
  setTimeout(() => { state.fresh.delete(incident.id); renderIncidentTable(); }, 15000);
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
  } catch (e) { /* no sound device, or no user gesture yet: the banner remains */ }
}

function drawIncident(incident) {
  const old = state.incidents.get(incident.id);
  if (old && old.circle) old.circle.remove();
  if (state.live && incident.section === "alert" && !incident.disposition
      && (!old || old.incident.section !== "alert")) {
    announce(incident);
  }
  let circle = null;
  if (incident.lat === null && incident.hyperbola) {
    // Two sensors only: the source lies somewhere on this branch.
    circle = L.polyline(incident.hyperbola, {
      color: colourOf(incident.class), weight: 2, dashArray: "6 4",
    })
      .bindTooltip(`${incident.class}: on this line (2 sensors)`)
      .on("click", () => openIncident(incident.id))
      .addTo(state.map);
    circle.getElement()?.setAttribute("data-incident", incident.id);
  }
  if (locatable(incident)) {
    // The 95 % circle in metres, and a marker of fixed size so that a precise fix stays visible.
    const where = [incident.lat, incident.lon];
    const style = { color: colourOf(incident.class), weight: 2 };
    // A siren or alarm heard by sensor after sensor ("area"): where it went, not a fix; drawn
    // as a faint dashed outline so that it does not hide the located incidents under it.
    const sweep = incident.status === "area";
    // Only alerts are drawn solid; unconfirmed and context are faint outlines under them.
    const faint = sweep || (incident.section || "context") !== "alert";
    const area = L.circle(where, {
      ...style,
      radius: incident.uncertainty_m || 1,
      fillOpacity: faint ? 0.03 : 0.2,
      dashArray: faint ? "8 6" : null,
      weight: faint ? 1 : 2,
      // A faint outline lets clicks through to the map ("look here"); its dot still opens it.
      interactive: !faint,
    });
    const dot = L.circleMarker(where, { ...style, radius: faint ? 4 : 7, fillOpacity: faint ? 0.3 : 0.6 });
    circle = L.featureGroup([area, dot])
      .bindTooltip(sweep
        ? `${incident.class} heard by ${incident.sensors_used.length} sensors in turn (±${Math.round(incident.uncertainty_m || 0)} m)`
        : `${incident.class} ±${Math.round(incident.uncertainty_m || 0)} m`)
      .on("click", () => openIncident(incident.id))
      .addTo(state.map);
    dot.getElement()?.setAttribute("data-incident", incident.id);
  }
  state.incidents.set(incident.id, { incident, circle });
  renderIncidentTable();
}

// Open before decided, then rank (severity, confidence, context: see the API), then newest.
function byPriority(a, b) {
  return (a.disposition ? 1 : 0) - (b.disposition ? 1 : 0) || b.rank - a.rank
    || b.onset_ns - a.onset_ns;
}

function renderIncidentTable() {
  const all = [...state.incidents.values()].map((entry) => entry.incident);
  for (const [section, table] of Object.entries(SECTIONS)) {
    const body = document.querySelector(`#${table} tbody`);
    body.replaceChildren();
    const rows = all.filter((i) => (i.section || "context") === section).sort(byPriority);
    for (const incident of rows) {
      const row = document.createElement("tr");
      row.className = "incident" + ((state.fresh || new Set()).has(incident.id) ? " fresh" : "");
      row.dataset.incident = incident.id;
      row.title = (incident.reasons || []).join("; ");
      const disposition = incident.disposition || "open";
      const where = incident.uncertainty_m === null ? "—"
        : locatable(incident) || incident.lat === null ? Math.round(incident.uncertainty_m)
          : "not located";
      row.append(
        ouie.text("td", ouie.timeOf(incident.onset_utc).slice(11)),
        ouie.text("td", incident.class, `class-tag class-${incident.class}`),
        ouie.text("td", where),
        ouie.text("td", incident.sensors_used.length),
        ouie.text("td", disposition, `disp-${disposition}`),
      );
      row.addEventListener("click", () => openIncident(incident.id));
      body.append(row);
    }
    const count = section === "alert"
      ? `(${rows.filter((i) => !i.disposition).length} open of ${rows.length})` : `(${rows.length})`;
    document.getElementById(section === "alert" ? "incident-count" : `${section}-count`).textContent = count;
  }
  const open = all.filter((i) => i.section === "alert" && !i.disposition).length;
  document.title = open ? `(${open}) ouie console` : "ouie console";
}

async function reload() {
  const [sensors, cameras, incidents] = await Promise.all([
    ouie.api("sensors"), ouie.api("cameras"), ouie.api("incidents"),
  ]);
  sensors.forEach(drawSensor);
  state.siteSpanM = ouie.siteSpanM(sensors);
  cameras.forEach(drawCamera);
  incidents.forEach(drawIncident);
}

// "Look here": a click on the map offers to turn the camera that sees the place there. The
// server cues it through the cue controller and audits who asked and where; it refuses (and
// says why) in cue mode off or for a role that may not move cameras.
function offerLook(event) {
  const { lat, lng } = event.latlng;
  const box = document.createElement("div");
  box.className = "look";
  const button = ouie.text("button", "Look here", "primary");
  button.id = "look-here";
  const answer = ouie.text("p", `${lat.toFixed(5)}, ${lng.toFixed(5)}`, "note");
  answer.id = "look-answer";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const look = await ouie.api("look", { method: "POST", body: { lat, lon: lng } });
      answer.textContent = look.message;
    } catch (problem) {
      answer.textContent = `Refused: ${problem.message}`;
      answer.className = "error";
    }
  });
  box.append(button, answer);
  L.popup().setLatLng(event.latlng).setContent(box).openOn(state.map);
}

// Show the whole network once: every sensor and camera in view.
function fitNetwork() {
  const points = [...state.sensors.values()].map((s) => [s.sensor.lat, s.sensor.lon])
    .concat([...state.cameras.values()].map((c) => [c.camera.lat, c.camera.lon]));
  if (points.length > 1) state.map.fitBounds(L.latLngBounds(points), { padding: [30, 30] });
}

async function start() {
  await ouie.requireLogin();
  const overview = await ouie.showCueBanner();
  buildMap(overview);
  state.map.on("click", offerLook);
  await reload();
  fitNetwork();
  state.live = true; // from now on, an alert that appears is new
  ouie.listen({
    incident: drawIncident,
    sensor: drawSensor,
    camera: drawCamera,
    resync: reload,
  });
  document.body.dataset.ready = "true";
}

start();
