//! The real playbook corpus, when it is there: `../shared/corpus/attack-playbooks` next to the
//! crate. Test data only (it has no licence), so nothing from it is copied into the project;
//! without it every test here prints one line and passes.

#[path = "fixtures/cells.rs"]
mod cells;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use socbot::playbook::{Library, LoadReport, Lookup, Playbook, parser};

const CORPUS: &str = "../shared/corpus/attack-playbooks";

/// One corpus file: its path, its text and what the parser made of it.
struct File {
    path: String,
    text: String,
    playbook: Playbook,
}

struct Corpus {
    library: Library,
    report: LoadReport,
    files: Vec<File>,
}

/// The corpus, loaded once for every test; None (after saying so) when it is absent.
fn corpus() -> Option<&'static Corpus> {
    static CORPUS_CELL: OnceLock<Option<Corpus>> = OnceLock::new();
    let loaded = CORPUS_CELL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
        dir.is_dir().then(|| load(&dir))
    });
    if loaded.is_none() {
        println!("corpus test skipped: {CORPUS} not found");
    }
    loaded.as_ref()
}

fn load(dir: &Path) -> Corpus {
    let (library, report) = Library::load_dir(dir).expect("corpus directory is readable");
    let mut paths = Vec::new();
    markdown_files(dir, &mut paths);
    paths.sort();
    let files = paths
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "SOURCE.md"))
        .map(|p| {
            let path = p.display().to_string();
            let text = std::fs::read_to_string(&p).expect("corpus files are UTF-8");
            let playbook = match parser::parse(&text, &path) {
                Ok(parsed) => parsed.playbook,
                Err(diags) => panic!("{path} does not parse: {diags:#?}"),
            };
            File {
                path,
                text,
                playbook,
            }
        })
        .collect();
    Corpus {
        library,
        report,
        files,
    }
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("readable").path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

#[test]
fn all_656_playbooks_load_without_errors() {
    let Some(c) = corpus() else { return };
    let errors: Vec<String> = c
        .report
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(c.files.len(), 656, "playbook files in the corpus");
    assert_eq!(c.library.len(), 656, "playbooks in the library");
    assert_eq!(c.report.skipped.len(), 1, "{:?}", c.report.skipped);
    assert!(c.report.skipped[0].ends_with("SOURCE.md"));
    println!(
        "corpus: {} playbooks, {} warning(s)",
        c.library.len(),
        c.report.warnings()
    );
}

/// How many questions a Questions cell holds, counted from the text: a `?` (after any closing
/// quotes or brackets) followed by a space, `<br>`, the next list item or the end of the cell.
fn question_marks(cell: &str) -> usize {
    let chars: Vec<char> = cell.chars().collect();
    let mut count = 0;
    for (i, &c) in chars.iter().enumerate() {
        if c != '?' {
            continue;
        }
        let mut j = i + 1;
        while chars
            .get(j)
            .is_some_and(|c| matches!(c, '\'' | '"' | '”' | '’' | ')'))
        {
            j += 1;
        }
        if chars
            .get(j)
            .is_none_or(|c| c.is_whitespace() || matches!(c, '<' | ',' | ']'))
        {
            count += 1;
        }
    }
    count
}

#[test]
fn every_playbook_has_3_to_6_questions_one_per_question_mark() {
    let Some(c) = corpus() else { return };
    let mut wrong = Vec::new();
    for f in &c.files {
        let cell = cells::raw_rows(&f.text)
            .into_iter()
            .find(|r| r.title == "Questions for Analysis")
            .expect("a Questions row");
        let want = question_marks(&cell.value);
        let got = f.playbook.questions.len();
        if got != want || !(3..=6).contains(&got) {
            wrong.push(format!(
                "{}: {got} questions parsed, {want} in the cell\n  {:#?}",
                f.path, f.playbook.questions
            ));
        }
        for q in &f.playbook.questions {
            if !q
                .trim_end_matches(['\'', '"', '”', '’', ')'])
                .ends_with('?')
            {
                wrong.push(format!("{}: not a question: {q:?}", f.path));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_id_form_finds_every_playbook() {
    let Some(c) = corpus() else { return };
    for f in &c.files {
        let id = f.playbook.id;
        let dotted = id.to_string();
        let digits = dotted.replace('.', "");
        let forms = [
            dotted.clone(),
            dotted.to_lowercase(),
            digits.clone(),
            dotted[1..].to_owned(),
            digits[1..].to_owned(),
            format!("  {dotted}\t "),
        ];
        for form in forms {
            match c.library.lookup(&form) {
                Lookup::Found(p) => assert_eq!(p.id, id, "{form:?}"),
                other => panic!("{}: lookup {form:?} gave {other:?}", f.path),
            }
        }
    }
}

#[test]
fn no_word_of_any_cell_is_lost() {
    let Some(c) = corpus() else { return };
    let mut problems = Vec::new();
    for f in &c.files {
        for p in cells::lost_words(&f.text, &f.playbook) {
            problems.push(format!("{}: {p}", f.path));
        }
    }
    assert!(
        problems.is_empty(),
        "{} cells changed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn search_returns_at_most_25_and_the_exact_id_first() {
    let Some(c) = corpus() else { return };
    for f in &c.files {
        let id = f.playbook.id.to_string();
        for q in [id.clone(), id.to_lowercase(), id.replace('.', "")] {
            let hits = c.library.search(&q, 25);
            assert!(hits.len() <= 25);
            assert_eq!(
                hits.first().map(|p| p.id),
                Some(f.playbook.id),
                "search {q:?}"
            );
        }
    }
    for q in ["T1", "t15", "web", "cred", "powrshell", "discovery", "a"] {
        assert!(c.library.search(q, 25).len() <= 25, "{q}");
    }
    assert_eq!(c.library.search("T1", 25).len(), 25);
}

#[test]
fn sub_techniques_without_a_playbook_fall_back_to_the_parent() {
    let Some(c) = corpus() else { return };
    // Every parent in the corpus: a sub-technique number it does not have goes to the parent.
    for p in c.library.iter().filter(|p| !p.id.is_sub()) {
        let asked = format!("{}.999", p.id);
        match c.library.lookup(&asked) {
            Lookup::Parent { asked: a, playbook } => {
                assert_eq!(playbook.id, p.id);
                assert_eq!(a.to_string(), asked);
            }
            other => panic!("{asked}: {other:?}"),
        }
    }
}
