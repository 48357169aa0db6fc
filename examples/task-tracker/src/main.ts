// The page: the task list (a plain listing), a question box (query with q) and a change box
// (mutation with q). Results, the plan that ran and errors are written into the page.
import type { OperationResult } from '@urql/core';
import { client, describeError, traceOf, type FieldTrace } from './gateway';
import { Ask, Change, Tasks } from './operations';
import type { TaskRowFragment } from './generated/graphql';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

/** One table row per task; text only, never HTML from the data. */
function renderTasks(body: HTMLTableSectionElement, tasks: readonly TaskRowFragment[]): void {
  body.replaceChildren(
    ...tasks.map((task) => {
      const row = document.createElement('tr');
      row.dataset.id = task.id;
      for (const text of [task.title, task.status, task.priority ?? '', task.project?.name ?? '']) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

/** "find Task · scripted · 12 ms · 1 attempt" and the plan as JSON. */
function renderTrace(box: HTMLElement, trace: FieldTrace | undefined): void {
  box.replaceChildren();
  if (!trace?.plan) return;
  const summary = document.createElement('p');
  summary.className = 'ops';
  const ops = trace.plan.steps.map((step) => `${step.op} ${step.model}`).join(' → ');
  const latency = trace.latencyMs === undefined ? '' : ` · ${Math.round(trace.latencyMs)} ms`;
  summary.textContent = `plan: ${ops} · ${trace.model ?? trace.source}${latency} · ${trace.attempts ?? 1} attempt(s)`;
  const details = document.createElement('details');
  const label = document.createElement('summary');
  label.textContent = 'the plan as JSON';
  const json = document.createElement('pre');
  json.textContent = JSON.stringify(trace.plan, null, 2);
  details.append(label, json);
  box.append(summary, details);
}

const list = element<HTMLTableSectionElement>('tasks');
const listError = element<HTMLElement>('tasks-error');

async function loadTasks(): Promise<void> {
  const result = await client.query(Tasks, {}).toPromise();
  listError.textContent = result.error ? describeError(result.error) : '';
  if (result.data) renderTasks(list, result.data.tasks);
}

/** Wire a form's text box to an operation on `tasks(q: $q)`; `after` runs on success. */
function planForm<Data extends { tasks: readonly TaskRowFragment[] }>(
  name: 'ask' | 'change',
  send: (q: string) => Promise<OperationResult<Data>>,
  after?: () => Promise<void>,
): void {
  const form = element<HTMLFormElement>(`${name}-form`);
  const input = element<HTMLInputElement>(`${name}-q`);
  const rows = element<HTMLTableSectionElement>(`${name}-result`);
  const trace = element<HTMLElement>(`${name}-trace`);
  const error = element<HTMLElement>(`${name}-error`);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    form.setAttribute('aria-busy', 'true');
    const result = await send(q);
    form.removeAttribute('aria-busy');
    error.textContent = result.error ? describeError(result.error) : '';
    renderTasks(rows, result.data?.tasks ?? []);
    renderTrace(trace, traceOf(result, 'tasks'));
    if (!result.error) await after?.();
  });
}

planForm('ask', (q) => client.query(Ask, { q }).toPromise());
planForm('change', (q) => client.mutation(Change, { q }).toPromise(), loadTasks);
element<HTMLButtonElement>('refresh').addEventListener('click', () => void loadTasks());
void loadTasks();
