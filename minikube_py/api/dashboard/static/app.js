// The entry point: loads the dashboard's shell. Browsers give up a module graph on the first failed
// fetch, and a host running containers changes its network interfaces whenever a pod starts or stops,
// which Chromium answers by aborting the requests in flight (ERR_NETWORK_CHANGED); a failed import is
// not remembered, so importing again a moment later fetches what failed.

/** How long a read keeps being tried while the network blinks: a Deployment's pods starting and the
 *  previous ones stopping change the host's interfaces again and again for several seconds. */
const BLINK_PATIENCE_MS = 20000;

/** `attempt()` again while it fails to reach the server (a TypeError), for up to BLINK_PATIENCE_MS. */
export async function whileNetworkBlinks(attempt) {
  const giveUp = Date.now() + BLINK_PATIENCE_MS;
  for (let pause = 200; ; pause = Math.min(pause * 2, 2000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TypeError) || Date.now() + pause > giveUp) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/** import() of `url` (absolute, or relative to this file), tried again while the network blinks. */
export function importRetrying(url) {
  return whileNetworkBlinks(() => import(url));
}

importRetrying("./shell.js").catch((error) => {
  document.getElementById("main").textContent = `The dashboard could not load: ${error.message}. Reload to try again.`;
});
