// The GraphQL operations the page sends. graphql-codegen reads this file (codegen.yml) and writes
// their result and variable types to src/generated/graphql.ts; urql's gql<Data, Variables> tag
// ties each document to its types, so a field missing from a selection fails `tsc`.
import { gql } from '@urql/core';
import type {
  AskQuery,
  AskQueryVariables,
  ChangeMutation,
  ChangeMutationVariables,
  TasksQuery,
  TasksQueryVariables,
} from './generated/graphql';

export const TaskRow = gql`
  fragment TaskRow on Task {
    id
    title
    status
    priority
    project { name }
  }
`;

/** Without `q` a root field lists its records: no model call. */
export const Tasks = gql<TasksQuery, TasksQueryVariables>`
  query Tasks {
    tasks { ...TaskRow }
  }
  ${TaskRow}
`;

/** A question in plain words: the model answers with a read-only plan. */
export const Ask = gql<AskQuery, AskQueryVariables>`
  query Ask($q: String!) {
    tasks(q: $q) { ...TaskRow }
  }
  ${TaskRow}
`;

/** A change in plain words: the model plans an insert, update or delete on Task. */
export const Change = gql<ChangeMutation, ChangeMutationVariables>`
  mutation Change($q: String!) {
    tasks(q: $q) { ...TaskRow }
  }
  ${TaskRow}
`;
