/**
 * Filter expressions (tcpdump's syntax): compiled by libpcap, run on each
 * packet as a stage.
 *
 * @module
 */

export * from "./cbpf.ts";
export * from "./pcap_compile.ts";
export * from "./filter_stream.ts";
export * from "./process_filter_stream.ts";
