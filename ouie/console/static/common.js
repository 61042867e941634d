// Shared by every console page: the page header, the session, API calls with the CSRF header,
// the cue banner.
"use strict";

// Every signed-in page (`<body data-header>`) opens with the same header and cue banner; this
// deferred script runs before the page's own, so they find #who, #logout and #cue-banner.
if (document.body.hasAttribute("data-header")) {
  document.body.insertAdjacentHTML(
    "afterbegin",
    `<header>
      <h1>ouie</h1>
      <nav>
        <a href="./">Live map</a>
        <a href="audit.html" data-permission="read_audit" hidden>Audit trail</a>
        <a href="observatory.html" data-permission="observe" hidden>Observatory</a>
        <a href="profiles.html" data-permission="set_profiles" hidden>Class profiles</a>
      </nav>
      <span id="who"></span>
      <button id="logout" type="button">Log out</button>
    </header>
    <div id="cue-banner" class="banner"></div>
    <div id="profile-banner" class="banner profile" hidden></div>`,
  );
}

const ouie = {
  session: null,

  async api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.method && options.method !== "GET" && ouie.session) {
      headers["X-CSRF-Token"] = ouie.session.csrf;
    }
    const response = await fetch("api/" + path, {
      method: options.method || "GET",
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (response.status === 401 && !path.startsWith("login")) {
      return ouie.goToLogin();
    }
    const payload = response.headers.get("content-type")?.includes("json")
      ? await response.json()
      : null;
    if (!response.ok) {
      throw new Error((payload && payload.detail) || response.statusText);
    }
    return payload;
  },

  // Leave for the login page; what was waiting for an answer waits forever (the page goes).
  goToLogin() {
    window.location.href = "login.html";
    return new Promise(() => {});
  },

  // Load the session; send anonymous visitors to the login page. Returns the session.
  async requireLogin() {
    ouie.session = await ouie.api("session");
    if (!ouie.session.user) return ouie.goToLogin();
    const who = document.getElementById("who");
    if (who) who.textContent = `${ouie.session.user} (${ouie.session.role})`;
    for (const el of document.querySelectorAll("[data-permission]")) {
      el.hidden = !ouie.session.permissions.includes(el.dataset.permission);
    }
    const logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", async () => {
        await ouie.api("logout", { method: "POST", body: {} });
        window.location.href = "login.html";
      });
    }
    return ouie.session;
  },

  // The banner: cue mode, and in `auto` the declared legal basis and DPIA.
  async showCueBanner() {
    const overview = await ouie.api("overview");
    const banner = document.getElementById("cue-banner");
    const cue = overview.cue;
    banner.className = "banner mode-" + cue.mode;
    let text = `Camera cueing: ${cue.mode}`;
    if (cue.mode === "off") text += " — no camera is moved toward sounds";
    if (cue.mode === "suggest") text += " — a camera moves only when an operator approves";
    if (cue.mode === "auto") {
      text += ` — cameras move automatically. Legal basis: ${cue.legal_basis}. DPIA: ${cue.dpia}`;
    }
    banner.textContent = text;
    const profiles = document.getElementById("profile-banner");
    const active = overview.profiles_active || [];
    profiles.hidden = !active.length;
    profiles.textContent = active.length ? `Class profile in force: ${active.join(" · ")}` : "";
    ouie.timeZone = overview.time_zone || "UTC";
    return overview;
  },

  // Largest distance between two sensors, m (Infinity with fewer than two): no uncertainty
  // circle or ellipse wider than this is drawn; such a sound is "not located".
  siteSpanM(sensors) {
    const points = sensors.map((s) => L.latLng(s.lat, s.lon));
    let span = 0;
    for (const a of points) for (const b of points) span = Math.max(span, a.distanceTo(b));
    return points.length > 1 ? span : Infinity;
  },

  // A point `distance` m from (lat, lon) along `bearing` degrees from north (flat Earth:
  // metres over a site are small against its radius).
  offset(lat, lon, bearingDeg, distanceM) {
    const rad = (bearingDeg * Math.PI) / 180;
    return [
      lat + (distanceM * Math.cos(rad)) / 111320,
      lon + (distanceM * Math.sin(rad)) / (111320 * Math.cos((lat * Math.PI) / 180)),
    ];
  },

  // A camera's field of view as a wedge polygon: its position, then its arc `reachM` out.
  viewCone(camera, reachM = 60) {
    const half = (camera.hfov_deg || 30) / 2;
    const arc = [];
    for (let k = 0; k <= 8; k += 1) {
      arc.push(ouie.offset(camera.lat, camera.lon, camera.bearing_deg - half + (k * 2 * half) / 8, reachM));
    }
    return [[camera.lat, camera.lon], ...arc];
  },

  // The site's time zone (from the overview); the audit trail keeps UTC (`utcOf`).
  timeZone: "UTC",

  utcOf(iso) {
    return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "";
  },

  // "YYYY-MM-DD HH:MM:SS" in the site's zone, with the zone's short name (e.g. CEST).
  timeOf(iso) {
    if (!iso) return "";
    if (ouie.timeZone === "UTC") return ouie.utcOf(iso);
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: ouie.timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date(iso));
    const get = (type) => parts.find((p) => p.type === type)?.value || "";
    return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${get("timeZoneName")}`;
  },

  text(tag, content, className) {
    const el = document.createElement(tag);
    el.textContent = content === null || content === undefined ? "" : String(content);
    if (className) el.className = className;
    return el;
  },

  // Subscribe to the live feed; `handlers` maps event kinds to functions of the parsed data.
  listen(handlers) {
    const source = new EventSource("api/events");
    for (const [kind, handler] of Object.entries(handlers)) {
      source.addEventListener(kind, (event) => handler(JSON.parse(event.data)));
    }
    source.onopen = () => document.body.classList.remove("disconnected");
    source.onerror = () => document.body.classList.add("disconnected");
    return source;
  },
};
