// Never die silently: uncaught errors and rejections show the global error banner
// (#app-error) with Reload and Dismiss.

import { $, show } from '../dom.js';

/** Shows `text` in the global error banner. */
export function showAppError(text: string): void {
  $('app-error-text').textContent = text;
  show($('app-error'), true);
}

/** Reports uncaught errors and rejections in the banner and wires its buttons. */
export function installAppErrorHandling(): void {
  window.addEventListener('error', (ev) => {
    const msg = ev.message || String(ev.error ?? 'unknown error');
    if (/ResizeObserver loop/.test(msg)) return; // benign layout notice, not a failure
    showAppError(msg);
  });
  window.addEventListener('unhandledrejection', (ev) => {
    const r = ev.reason;
    showAppError(r instanceof Error ? r.message : String(r));
  });
  $('app-error-reload').addEventListener('click', () => location.reload());
  $('app-error-dismiss').addEventListener('click', () => show($('app-error'), false));
}
