import { isLabelValue, isQualifiedName, type Taint } from "./labels.js";

/** One invalid field, as the API server names it: `spec.taints[0].effect` and what is wrong. */
export interface FieldCause {
  readonly field: string;
  readonly message: string;
}

const EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"];
const LABEL_KEY_RULE =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_RULE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** A JSON object's members, or none when `value` is not an object. */
export function objectAt(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function isEffect(effect: string): effect is Taint["effect"] {
  return EFFECTS.includes(effect);
}

/** A map of strings; undefined (with a decode error cause) when a value is not a string. */
export function stringMap(
  field: string,
  value: unknown,
  causes: FieldCause[],
  isLabels: boolean,
): Record<string, string> | undefined {
  const result: Record<string, string> = {};
  for (const [key, item] of Object.entries(objectAt(value))) {
    if (typeof item !== "string") {
      causes.unshift({
        field,
        message: `json: cannot unmarshal ${typeof item === "object" ? "object" : typeof item} into Go struct field ObjectMeta.${field} of type string`,
      });
      return undefined;
    }
    if (!isQualifiedName(key))
      causes.push({ field, message: `Invalid value: ${JSON.stringify(key)}: ${LABEL_KEY_RULE}` });
    else if (isLabels && !isLabelValue(item))
      causes.push({ field, message: `Invalid value: ${JSON.stringify(item)}: ${LABEL_VALUE_RULE}` });
    result[key] = item;
  }
  return result;
}

/** The taints of spec.taints (absent: none); undefined (with a decode error cause) when it is not a list of objects. */
export function taintList(value: unknown, causes: FieldCause[]): Taint[] | undefined {
  if (value === undefined) return [];
  const items: unknown[] | undefined = Array.isArray(value) ? value : undefined;
  if (
    items === undefined ||
    items.some((item) => typeof item !== "object" || item === null || Array.isArray(item))
  ) {
    causes.unshift({
      field: "spec.taints",
      message: "json: cannot unmarshal spec.taints: a list of taints is expected",
    });
    return undefined;
  }
  const taints: Taint[] = [];
  const seen = new Set<string>();
  items.forEach((raw, index) => {
    const item = objectAt(raw);
    const at = `spec.taints[${index}]`;
    const key = typeof item["key"] === "string" ? item["key"] : "";
    const taintValue = typeof item["value"] === "string" ? item["value"] : "";
    const effect = typeof item["effect"] === "string" ? item["effect"] : "";
    if (key === "") causes.push({ field: `${at}.key`, message: "Required value" });
    else if (!isQualifiedName(key))
      causes.push({
        field: `${at}.key`,
        message: `Invalid value: ${JSON.stringify(key)}: ${LABEL_KEY_RULE}`,
      });
    if (!isLabelValue(taintValue))
      causes.push({
        field: `${at}.value`,
        message: `Invalid value: ${JSON.stringify(taintValue)}: ${LABEL_VALUE_RULE}`,
      });
    if (effect === "") causes.push({ field: `${at}.effect`, message: "Required value" });
    else if (!isEffect(effect))
      causes.push({
        field: `${at}.effect`,
        message: `Unsupported value: ${JSON.stringify(effect)}: supported values: ${EFFECTS.map((e) => JSON.stringify(e)).join(", ")}`,
      });
    const identity = `${key}:${effect}`;
    if (seen.has(identity))
      causes.push({ field: at, message: `Duplicate value: ${JSON.stringify({ key, effect })}` });
    seen.add(identity);
    if (isEffect(effect)) taints.push({ key, ...(taintValue === "" ? {} : { value: taintValue }), effect });
  });
  return taints;
}
