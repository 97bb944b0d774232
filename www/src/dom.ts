// Tiny DOM helpers shared by the page's modules: element lookup by id, showing and hiding,
// text with `code` parts, and the messages next to form fields.

/** The element with `id`; throws when index.html lacks it. */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
};

/** Shows or hides `el` (the `hidden` attribute). */
export const show = (el: HTMLElement, on: boolean): void => {
  el.hidden = !on;
};

/** Sets text where `backticked` parts become <code> (no HTML parsing). */
export function setText(el: HTMLElement, text: string): void {
  el.replaceChildren(
    ...text.split('`').map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement('code');
      code.textContent = part;
      return code;
    }),
  );
}

/** Shows `text` in the field message `#id`, or hides it (null). */
export function fieldError(id: string, text: string | null): void {
  const el = $(id);
  el.textContent = text ?? '';
  show(el, !!text);
}

/**
 * Marks a form field invalid (`aria-invalid`, drawn red by style.css) with its message in
 * `#messageId` (the line next to the run button), or clears both.
 */
export function setInvalid(field: HTMLElement, invalid: boolean, messageId = 'run-reason'): void {
  if (invalid) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-errormessage', messageId);
  } else {
    field.removeAttribute('aria-invalid');
    field.removeAttribute('aria-errormessage');
  }
}
