// The operations a frontend ships, written with the client preset's graphql() so that codegen
// types them and writes the persisted-documents manifest the gateway loads (--documents).
import { graphql } from '../../generated/persisted/gql/index.js';

export const ProjectNames = graphql(`
  query ProjectNames {
    projects {
      name
    }
  }
`);

export const TasksAbout = graphql(`
  query TasksAbout($q: String) {
    tasks(q: $q) {
      title
      priority
    }
  }
`);
