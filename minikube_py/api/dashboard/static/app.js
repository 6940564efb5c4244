// The entry point: loads the dashboard's shell. Browsers give up a module graph on the first failed
// fetch, and a host running containers changes its network interfaces whenever a pod starts or stops,
// which Chromium answers by aborting the requests in flight (ERR_NETWORK_CHANGED); a failed import is
// not remembered, so importing again a moment later fetches what failed.

/** import() of `url` (absolute, or relative to this file), tried again while the network blinks. */
export async function importRetrying(url) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await import(url);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
    }
  }
}

importRetrying("./shell.js").catch((error) => {
  document.getElementById("main").textContent = `The dashboard could not load: ${error.message}. Reload to try again.`;
});
