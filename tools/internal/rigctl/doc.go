// Package rigctl implements the rigctl command: the tool of operators,
// release managers and developers. Each subcommand is a function taking a
// context, its arguments and the output streams, and returning an exit
// code, so that tests run the real command in-process.
//
// Exit codes: 0 success, 1 the command ran and found a problem (an invalid
// config, a failed check), 2 usage errors (unknown command, bad flags).
package rigctl
