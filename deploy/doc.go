// Package deploy holds the agent's deployment files, a systemd unit
// (systemd/) and a Kubernetes DaemonSet (kubernetes/), and the tests that
// keep them honest: the manifests decode strictly with the Kubernetes API
// types, every flag and config key they use is the agent's, and the
// capabilities they grant are the set docs/agent.md explains.
package deploy
