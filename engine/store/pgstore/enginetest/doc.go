// Package enginetest runs the engine on the PostgreSQL store: whole runs
// whose start, decision, resume and verification happen through different
// stores on one database (different machines), and runs whose connection
// is cut. It has no code of its own; it keeps pgstore's tests from
// importing the engine.
package enginetest
