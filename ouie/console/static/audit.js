// The audit view (auditors): the newest entries of the hash chain, and whether it verifies.
"use strict";

// Details in one short line (the whole JSON on hover): the table stays readable.
function details(value) {
  const full = JSON.stringify(value);
  const cell = ouie.text("td", full.length > 140 ? full.slice(0, 140) + "…" : full, "details");
  cell.title = full;
  return cell;
}

async function load() {
  const error = document.getElementById("error");
  error.textContent = "";
  const filter = document.getElementById("filter").value.trim();
  let page;
  try {
    page = await ouie.api("audit?limit=500" + (filter ? "&action=" + encodeURIComponent(filter) : ""));
  } catch (problem) {
    error.textContent = problem.message;
    return;
  }
  document.getElementById("chain").textContent = page.chain_ok
    ? `(${page.total} entries, chain verified)`
    : `(${page.total} entries, CHAIN BROKEN: ${page.problems.join("; ")})`;
  const body = document.querySelector("#audit tbody");
  body.replaceChildren();
  for (const entry of page.entries) {
    const row = document.createElement("tr");
    row.dataset.action = entry.action;
    row.append(
      ouie.text("td", entry.seq),
      ouie.text("td", ouie.utcOf(entry.at_utc), "when"),
      ouie.text("td", entry.action),
      ouie.text("td", entry.actor),
      ouie.text("td", entry.subject),
      details(entry.details),
      ouie.text("td", entry.hash.slice(0, 12) + "…", "hash"),
    );
    body.append(row);
  }
}

async function start() {
  await ouie.requireLogin();
  await ouie.showCueBanner();
  document.getElementById("refresh").addEventListener("click", load);
  document.getElementById("filter").addEventListener("change", load);
  await load();
  document.body.dataset.ready = "true";
}

start();
