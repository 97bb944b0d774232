// The prompt's token count under the prompt field: how much of it the text encoder sees (75
// content tokens) and, for a longer prompt, where it is cut. The count comes from the loaded
// model's tokenizer in the worker (Session.promptTokens); before a model is loaded nothing shows.

import { $, show } from '../dom.js';
import type { PromptTokens } from '../protocol.js';
import type { WorkerClient } from '../worker-client.js';

/** The token line's operations. */
export interface PromptTokenLine {
  /** Asks for the current prompt's count again (after a model is loaded). */
  refresh(): void;
  /** The worker's answer for `text` (ignored when the prompt has changed since). */
  show(text: string, tokens: PromptTokens | null): void;
}

/** How a prompt's tail is quoted when it is cut. */
const tail = (kept: string) => (kept.length > 40 ? `…${kept.slice(-40)}` : kept);

/** Wires the token line to the prompt field; asks the worker at most every 150 ms while typing. */
export function createPromptTokens(client: Pick<WorkerClient, 'send'>): PromptTokenLine {
  const prompt = $<HTMLTextAreaElement>('prompt');
  const line = $('prompt-tokens');
  let timer = 0;
  const ask = () => client.send({ type: 'prompt-tokens', text: prompt.value });
  prompt.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, 150);
  });
  return {
    refresh: ask,
    show(text, tokens) {
      if (text !== prompt.value) return;
      if (!tokens || text.trim() === '') {
        show(line, false);
        return;
      }
      const cut = tokens.kept !== null;
      line.dataset.cut = String(cut);
      line.textContent = cut
        ? `${tokens.count} tokens: the model reads only the first ${tokens.max}, up to “${tail(tokens.kept!)}”; the rest is ignored. Shorten the prompt.`
        : `${tokens.count} of ${tokens.max} tokens.`;
      show(line, true);
    },
  };
}
