/**
 * strftime(3) for file names (`-G`), in local time as tcpdump does: the
 * conversions an operator puts in a rotated capture's name.
 *
 * @module
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * Formats a time. Supported: `%Y %y %m %d %e %H %M %S %j %s %F %T %b %a
 * %z %%`; any other `%x` is kept as it is.
 *
 * @param pattern The pattern, e.g. `cap-%Y%m%d-%H%M%S.pcapng`.
 * @param t The time.
 * @returns The formatted text.
 *
 * @example Usage
 * ```ts
 * import { strftime } from "./strftime.ts";
 * const d = new Date(2026, 10, 30, 3, 4, 5);
 * if (strftime("%Y-%m-%d_%H%M%S", d) !== "2026-11-30_030405") throw new Error();
 * ```
 */
export function strftime(pattern: string, t: Date): string {
  return pattern.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case "Y":
        return String(t.getFullYear());
      case "y":
        return pad(t.getFullYear() % 100);
      case "m":
        return pad(t.getMonth() + 1);
      case "d":
        return pad(t.getDate());
      case "e":
        return String(t.getDate()).padStart(2, " ");
      case "H":
        return pad(t.getHours());
      case "M":
        return pad(t.getMinutes());
      case "S":
        return pad(t.getSeconds());
      case "j": {
        const y = t.getFullYear();
        const day =
          (Date.UTC(y, t.getMonth(), t.getDate()) - Date.UTC(y, 0, 1)) /
            86_400_000 + 1;
        return pad(day, 3);
      }
      case "s":
        return String(Math.floor(t.getTime() / 1000));
      case "F":
        return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${
          pad(t.getDate())
        }`;
      case "T":
        return `${pad(t.getHours())}:${pad(t.getMinutes())}:${
          pad(t.getSeconds())
        }`;
      case "b":
        return MONTHS[t.getMonth()]!;
      case "a":
        return DAYS[t.getDay()]!;
      case "z": {
        const off = -t.getTimezoneOffset();
        const a = Math.abs(off);
        return `${off < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
      }
      case "%":
        return "%";
      default:
        return all;
    }
  });
}
