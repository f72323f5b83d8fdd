// Command gatewaybench measures a Wasmbed gateway process from the outside:
// how many mutual-TLS device sessions it holds and what each costs in memory
// (against Debian's mosquitto holding as many MQTT-over-TLS clients), how many
// heartbeats and enrollments per second it sustains, how long a 32 KiB
// module takes to reach 10000 devices, and what a connection stalled before
// authentication costs it (stalled.go). bench/run.sh (make bench) runs it and
// records what it prints.
//
//	gatewaybench run -gateway BIN -work DIR [flags]    the whole benchmark
//	gatewaybench devices [flags]                        a load-generator child (run starts these)
//	gatewaybench simfleet [flags]                       an agent/sim fleet child, the fan-out's device side
//	gatewaybench gateway [flags]                        the gateway with a pprof listener (run -profile-dir)
//
// run prints progress on stderr and one line per figure on stdout:
//
//	RESULT<TAB>key<TAB>value<TAB>unit<TAB>note
//
// The held sessions and the heartbeat load are a device side written here
// with package protocol (devices.go), light enough for 19000 sessions from a
// few processes; the fan-out runs the project's simulator, agent/sim
// (simfleet.go), or with -fanout-devices builtin the same light device side.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "devices":
		err = cmdDevices(os.Args[2:])
	case "simfleet":
		err = cmdSimFleet(os.Args[2:])
	case "gateway":
		err = cmdGateway(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gatewaybench run|devices|simfleet|gateway [flags]")
	os.Exit(2)
}
