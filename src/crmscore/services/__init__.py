"""Services shared by the CLI, the server and the library: pipeline runs, snapshots, jobs."""
