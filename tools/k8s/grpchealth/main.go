// grpc-health asks a service's plaintext gRPC health port for the status of
// one health service (grpc.health.v1.Health/Check) and prints it, the way a
// Kubernetes grpc probe does, so the probes the chart declares can be checked
// without a cluster.
//
//	grpc-health --addr=127.0.0.1:52051 [--service=liveness] [--timeout=5s]
//
// The empty service name (the default) is the overall readiness. The exit
// status is 0 only when the status is SERVING, 1 otherwise (any other status,
// an RPC error or a timeout) and 2 on a usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args, makes one Check call and returns the exit status.
func run(args []string) int {
	fs := flag.NewFlagSet("grpc-health", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the plaintext gRPC health endpoint (required)")
	service := fs.String("service", "", `health service name ("" = overall readiness)`)
	timeout := fs.Duration("timeout", 5*time.Second, "deadline of the whole check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || fs.NArg() != 0 || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "usage: grpc-health --addr=host:port [--service=NAME] [--timeout=5s]")
		return 2
	}

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-health: %s: %v\n", *addr, err)
		return 1
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// Fail fast (no WaitForReady): a refused connection is a failed probe,
	// and callers that wait for a starting server poll.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-health: %s service %q: %v\n", *addr, *service, err)
		return 1
	}
	status := resp.GetStatus()
	fmt.Println(status)
	if status != healthpb.HealthCheckResponse_SERVING {
		return 1
	}
	return 0
}
