/**
 * hone events as PCAP-NG with the original Hone's blocks and options.
 *
 * @module
 */

export * from "./pcapng_writer.ts";
