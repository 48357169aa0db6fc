// A small typed client: compiled (tsc --noEmit) against the types graphql-codegen generated.
import type {
  AddTaskMutation,
  AddTaskMutationVariables,
  HighTasksQuery,
  HighTasksQueryVariables,
  Status,
  TaskCountQuery,
  TaskCountQueryVariables,
} from '../generated/from-introspection.js';
import type * as FromSdl from '../generated/from-sdl.js';

interface Response<TData> {
  data?: TData | null;
  errors?: { message: string; extensions?: { code?: string } }[];
  extensions?: { fields?: Record<string, { plan?: unknown }> };
}

async function request<TData, TVariables>(url: string, query: string, variables: TVariables): Promise<TData> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Response<TData>;
  if (body.errors?.length || !body.data) {
    throw new Error(body.errors?.[0]?.message ?? `HTTP ${response.status}`);
  }
  return body.data;
}

export async function openHighTasks(url: string): Promise<string[]> {
  const data = await request<HighTasksQuery, HighTasksQueryVariables>(
    url,
    'query HighTasks($q: String) { tasks(q: $q) { id title status priority project { name } } }',
    { q: 'high priority tasks that are not done' },
  );
  const open: Status[] = ['TODO', 'IN_PROGRESS'] as Status[];
  return data.tasks
    .filter((task) => open.includes(task.status))
    .map((task) => `${task.title} (${task.project?.name ?? 'no project'})`);
}

export async function countTasks(url: string, q: string): Promise<number> {
  const data = await request<TaskCountQuery, TaskCountQueryVariables>(url, 'query TaskCount($q: String) { taskCount(q: $q) }', { q });
  return data.taskCount;
}

export async function addTask(url: string, q: string): Promise<AddTaskMutation['tasks'][number]['id'][]> {
  const variables: AddTaskMutationVariables = { q };
  const data = await request<AddTaskMutation, AddTaskMutationVariables>(
    url, 'mutation AddTask($q: String!) { tasks(q: $q) { id title status } }', variables);
  return data.tasks.map((task) => task.id);
}

// The types from introspection and from the SDL file are the same types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const sameTypes: [
  Same<HighTasksQuery, FromSdl.HighTasksQuery>,
  Same<TaskCountQuery, FromSdl.TaskCountQuery>,
  Same<AddTaskMutation, FromSdl.AddTaskMutation>,
  Same<AddTaskMutationVariables, FromSdl.AddTaskMutationVariables>,
] = [true, true, true, true];
