// The entry point: loads the dashboard's modules, and reloads the page when a module fails to arrive.
// Browsers give up a module graph on the first failed fetch, and a host running containers changes its
// network interfaces whenever a pod starts or stops, which Chromium answers by aborting the requests in
// flight (ERR_NETWORK_CHANGED); a few reloads, spaced out, get past such a moment.
const RETRIES = "pykube.load-retries";

import("./shell.js").then(() => sessionStorage.removeItem(RETRIES)).catch((error) => {
  const tries = Number(sessionStorage.getItem(RETRIES) || 0);
  if (tries < 5) {
    sessionStorage.setItem(RETRIES, String(tries + 1));
    setTimeout(() => location.reload(), 250 * (tries + 1));
  } else {
    sessionStorage.removeItem(RETRIES);
    document.getElementById("main").textContent = `The dashboard could not load: ${error.message}. Reload to try again.`;
  }
});
