// The Chromium every e2e run and frontend benchmark drives: Debian's package
// (or CHROMIUM_PATH), headless, without the background traffic that skews timings.
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      // Shared memory in /tmp: a container's /dev/shm is often 64 MiB,
      // too little for a long page, and Chromium's renderer dies of it.
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
