/**
 * Capture files (pcapng, the original Hone's, pcap) decoded into hone events, streaming.
 *
 * @module
 */

export * from "./capture_decoder.ts";
export * from "./linktype.ts";
export * from "./read_capture.ts";
export * from "./capture_stream.ts";
