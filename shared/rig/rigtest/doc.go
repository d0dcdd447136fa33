// Package rigtest loads the firmware configs the repository ships in
// firmware-configs/, for the tests that run on a real rig's topology:
//
//	cfg := rigtest.Shipped(t, "zema-testrig") // firmware-configs/zema-testrig.yaml
//
// It is for tests only.
package rigtest
