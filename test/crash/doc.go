// Package crash tests what survives when Keyward dies: the real `keyward` binary runs as a
// child process on a SQLite file (and on PostgreSQL when KEYWARD_TEST_POSTGRES is set) while
// people sign up, sign in, exchange codes and refresh tokens, and the test kills it with
// SIGKILL at random moments, hundreds of times (SECURITY RL-02). After each kill the store
// must pass `store.Invariants` and the engine's integrity check, every write answered with a
// 2xx must still be there, redeemed codes and rotated refresh tokens must stay spent, and a
// client's retry must get a clean success or a clean 4xx. It also covers the SIGTERM path
// (RL-05) and `keyward store check`.
//
// KEYWARD_CRASH_KILLS sets the number of kills on SQLite (default 200; 20 with -short).
package crash
