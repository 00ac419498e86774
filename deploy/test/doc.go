// Package deploytest checks the deployment artifacts without a container
// engine or a Kubernetes cluster, which the machines this project builds on
// do not have:
//
//   - the image inputs: the binaries of `make build-static` are static ELF
//     executables, and deploy/docker/Dockerfile is FROM scratch, copies only
//     them, has no RUN (no shell) and a numeric non-root USER;
//   - deploy/docker-compose.yml, decoded strictly: commands, environment
//     keys, ports, volumes and health checks are checked against the real
//     binaries, and the compose cluster itself (3 placement members, 3
//     journal nodes, the broker replicas, the health checks, robustctl) is
//     started from the file with every address moved to a free 127.0.0.1
//     port, then driven with mosquitto clients and robustctl;
//   - deploy/helm/robustmq, linted and rendered with the Helm Go SDK, every
//     manifest decoded strictly into the k8s.io/api types, and the rendered
//     configuration and pod environment run by the real binaries.
//
// It is its own module (GOWORK=off) so Helm and the Kubernetes types stay
// out of the service modules. It never talks to anything but 127.0.0.1 and
// never needs a registry beyond the Go module proxy. What only a Docker
// engine or a cluster can show is in scripts/test-compose.sh and
// docs/deploy.md.
package deploytest
