// Reads an .ics file with ical.js (the feed's VTIMEZONEs registered, as Thunderbird and
// Nextcloud do) and with node-ical, and prints what each makes of every VEVENT as JSON:
// {"ical.js": {uid: [start, end]}, "node-ical": {...}}, where a timed value is epoch
// milliseconds and a date-only value "YYYY-MM-DD". Used by tests/test_datetruth.py.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";
import nodeIcal from "node-ical";

const text = readFileSync(process.argv[2], "utf8");

function icaljs() {
  const root = new ICAL.Component(ICAL.parse(text));
  for (const vtz of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(vtz);
  }
  const out = {};
  // The properties themselves, as ICAL.Event's startDate/endDate read them (its
  // constructor scans the whole calendar for exceptions: minutes for 10,000 events).
  const value = (t) => (t.isDate ? t.toString() : t.toJSDate().getTime());
  for (const comp of root.getAllSubcomponents("vevent")) {
    const uid = comp.getFirstPropertyValue("uid");
    out[uid] = [comp.getFirstPropertyValue("dtstart"), comp.getFirstPropertyValue("dtend")]
      .map(value);
  }
  return out;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function nodeical() {
  const out = {};
  const value = (d) => (d.dateOnly
    // Date-only values are midnight of the machine's zone (TZ=UTC when run by the test).
    ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    : d.getTime());
  for (const item of Object.values(nodeIcal.sync.parseICS(text))) {
    if (item.type === "VEVENT") out[item.uid] = [value(item.start), value(item.end)];
  }
  return out;
}

process.stdout.write(JSON.stringify({ "ical.js": icaljs(), "node-ical": nodeical() }));
