// Package crash tests what survives when Keyward dies or its surroundings fail, on the real
// `keyward` binary run as a child process. The kill loop runs people's sign-ups, sign-ins, code
// exchanges and refreshes on a SQLite file (and on PostgreSQL when KEYWARD_TEST_POSTGRES is
// set) and kills the process with SIGKILL at random points, hundreds of times (SECURITY
// RL-02): after each kill the store passes `keyward store check`, every write answered with a
// 2xx is still there, redeemed codes and rotated refresh tokens stay spent, and a client's
// retry gets a clean success or a clean 4xx. The other tests kill the first start inside its
// migrations (RL-07), hold the SQLite write lock from another connection (RL-03), fill the
// disk under the database on a tmpfs of its own (RL-10), and send SIGTERM (RL-05).
//
// KEYWARD_CRASH_KILLS sets the number of kills on SQLite (default 200; 20 with -short).
package crash
