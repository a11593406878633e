// View state kept in the query string (filters, cursor, time zone), so a reload or a
// shared link shows the same view. replaceState keeps the path: works under any prefix.

export function param(name, fallback = "") {
  return new URLSearchParams(location.search).get(name) ?? fallback;
}

export function setParams(changes) {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === "" || value == null) params.delete(name);
    else params.set(name, value);
  }
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}
