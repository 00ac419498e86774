package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/robustmq/robustmq-go/deploy/healthcheck/probe"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: robustmq-healthcheck URL   (exit 0 when URL answers 200, e.g. http://127.0.0.1:9100/healthz)")
		return 2
	}
	u, err := url.Parse(args[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "robustmq-healthcheck: %q is not an http(s) URL\n", args[0])
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	body, err := probe.Check(ctx, http.DefaultClient, u.String())
	if err != nil {
		fmt.Fprintf(stderr, "robustmq-healthcheck: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, body)
	return 0
}
