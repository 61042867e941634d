"use strict";

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    ouie.session = await ouie.api("session");
    await ouie.api("login", {
      method: "POST",
      body: {
        name: document.getElementById("name").value,
        password: document.getElementById("password").value,
      },
    });
    window.location.href = "./";
  } catch (problem) {
    error.textContent = problem.message;
  }
});
