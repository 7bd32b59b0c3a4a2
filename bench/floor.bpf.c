// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.bpf.c - the attach points' own cost, for bench/flood_bench.sh's
 * "empty" configuration: cgroup_skb ingress and egress programs that do
 * nothing, attached where hone's eBPF sensor attaches its packet programs.
 * Whatever a capture at these hooks does, it cannot cost the workload less.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup_skb/ingress")
int floor_in(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int floor_out(struct __sk_buff *skb)
{
	return 1;
}
