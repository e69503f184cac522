// Scripts as text: CSV or TSV (a header row naming filename and text, as the jobs API reads
// them), or pasted lines without a header.

const COLUMNS = {
  filename: "filename", file: "filename", text: "text", line: "text",
  voice_group_id: "group", group: "group", voice_group: "group", emotion: "emotion",
};

/** Rows of cells; quotes may hold the delimiter, doubled quotes and line breaks. */
export function parseTable(text, delimiter) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") {
      quoted = true;
    } else if (c === delimiter) {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += c;
    }
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((cells) => cells.some((value) => value.trim() !== ""));
}

/**
 * Script lines from CSV/TSV text: [{filename, text, group, emotion}]. With a header, its
 * columns are used by name; without one, each line is `filename<sep>text[<sep>group]`, and
 * any other line (no separator, or a first cell with spaces) is text alone, its file named
 * after its number.
 */
export function scriptLines(raw, firstNumber = 1) {
  const text = raw.replace(/^\uFEFF/, "");
  const firstLine = text.split("\n", 1)[0];
  const delimiter = firstLine.includes("\t") ? "\t" : ",";
  const rows = parseTable(text, delimiter);
  if (!rows.length) return [];
  const header = rows[0].map((name) => COLUMNS[name.trim().toLowerCase()]);
  const named = header.includes("filename") && header.includes("text");
  const body = named ? rows.slice(1) : rows;
  return body.map((cells, i) => {
    const line = {filename: "", text: "", group: "", emotion: ""};
    if (named) {
      header.forEach((column, j) => { if (column) line[column] = (cells[j] || "").trim(); });
    } else if (cells.length === 1 || !/^\S+$/.test(cells[0].trim())) {
      line.text = cells.join(delimiter).trim();
      line.filename = `line_${String(firstNumber + i).padStart(3, "0")}.wav`;
    } else {
      [line.filename, line.text, line.group] = cells.map((cell) => cell.trim());
      line.group = line.group || "";
    }
    return line;
  });
}

/** Whether a file looks like a script the page can read. */
export function isScriptFile(file) {
  return /\.(csv|tsv|txt)$/i.test(file.name) || /^text\//.test(file.type);
}
