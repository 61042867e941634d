// Class profiles: the supervisors' list and form (one rule per save; the API takes several).
"use strict";

function showError(message) {
  document.getElementById("error").textContent = message || "";
}

function renderProfiles(profiles) {
  const body = document.querySelector("#profiles tbody");
  body.replaceChildren();
  for (const profile of profiles) {
    const row = document.createElement("tr");
    row.dataset.profile = profile.name;
    const remove = ouie.text("button", "Remove", "danger");
    remove.addEventListener("click", () => send(`profiles/${encodeURIComponent(profile.name)}`, "DELETE"));
    const cell = document.createElement("td");
    cell.append(remove);
    row.append(
      ouie.text("td", profile.summary),
      ouie.text("td", profile.active_now ? "yes" : "no"),
      ouie.text("td", `${profile.actor}, ${ouie.timeOf(profile.updated_utc)}`),
      cell,
    );
    body.append(row);
  }
  if (!profiles.length) body.append(Object.assign(document.createElement("tr"), { textContent: "No profile is set." }));
}

async function send(path, method, body) {
  showError("");
  try {
    renderProfiles(await ouie.api(path, { method, body }));
    await ouie.showCueBanner();
  } catch (problem) {
    showError(problem.message);
  }
}

// The form as a profile (`ouie.fusion.profiles.ClassProfile`); the server checks every field.
function formProfile() {
  const value = (id) => document.getElementById(id).value.trim();
  const venues = value("p-venues").split("\n").filter((line) => line.trim()).map((line) => {
    const [name, lat, lon] = line.split(";").map((part) => part.trim());
    return { name, lat: Number(lat), lon: Number(lon) };
  });
  const off = document.getElementById("p-off").checked;
  const rule = { class: value("p-class"), near: venues, radius_m: Number(value("p-radius")) };
  if (off) rule.switch_off = true;
  else rule.min_score = Number(value("p-min-score"));
  return {
    name: value("p-name"),
    description: value("p-description"),
    dates: value("p-dates") ? value("p-dates").split(",").map((d) => d.trim()) : [],
    start: value("p-start"),
    end: value("p-end"),
    time_zone: value("p-zone"),
    rules: [rule],
  };
}

async function start() {
  await ouie.requireLogin();
  await ouie.showCueBanner();
  if (!ouie.session.permissions.includes("set_profiles")) {
    showError("Only a supervisor sets class profiles.");
  }
  document.getElementById("profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send("profiles", "POST", formProfile());
  });
  renderProfiles(await ouie.api("profiles"));
  document.body.dataset.ready = "true";
}

start();
