//! The DreamBench protocol (DreamBooth's dataset): 30 subjects, each with its class, 25 prompt
//! templates for objects and 25 for live subjects (the cats and dogs), N seeds per prompt.
//!
//! Read from the public dataset's layout: `dataset/prompts_and_classes.txt` and
//! `dataset/<subject>/*.jpg`. EZIGen is zero-shot, so the prompts use the class noun where
//! DreamBooth puts its unique token: `'a {0} {1} in the jungle'` becomes "a dog in the jungle",
//! and the subject prompt is "a dog".

use crate::{Error, Result};

/// One subject of the benchmark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Folder name (`dog6`).
    pub name: String,
    /// Class noun (`dog`, `stuffed animal`).
    pub class: String,
    /// Live subjects (class `cat` or `dog`) take the live prompt list.
    pub live: bool,
}

/// The subjects and prompt templates of `prompts_and_classes.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Benchmark {
    /// Subjects in file order.
    pub subjects: Vec<Subject>,
    /// Templates for objects (`'a {0} {1} in the jungle'` without the quotes).
    pub object_prompts: Vec<String>,
    /// Templates for live subjects.
    pub live_prompts: Vec<String>,
}

/// One image to generate: subject, prompt and seed (indices into [`Benchmark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    /// Index into [`Benchmark::subjects`].
    pub subject: usize,
    /// Index into the subject's prompt list.
    pub prompt: usize,
    /// Seed of the generation.
    pub seed: u64,
}

impl Benchmark {
    /// Parses the dataset's `prompts_and_classes.txt`.
    pub fn parse(text: &str) -> Result<Self> {
        #[derive(PartialEq)]
        enum Section {
            None,
            Classes,
            Object,
            Live,
        }
        let bad = |why: String| Error::Input(format!("prompts_and_classes.txt: {why}"));
        let mut section = Section::None;
        let (mut subjects, mut object_prompts, mut live_prompts) = (Vec::new(), Vec::new(), Vec::new());
        for line in text.lines().map(str::trim) {
            match line {
                "Classes" => section = Section::Classes,
                "Object Prompts" => section = Section::Object,
                "Live Subject Prompts" => section = Section::Live,
                "" | "Prompts" | "subject_name,class" | "]" => {}
                _ if line.starts_with("prompt_list") => {}
                _ => match section {
                    Section::Classes => {
                        let (name, class) = line.split_once(',').ok_or_else(|| bad(format!("`{line}` is not `subject_name,class`")))?;
                        let class = class.trim().to_string();
                        let live = class == "dog" || class == "cat";
                        subjects.push(Subject { name: name.trim().to_string(), class, live });
                    }
                    Section::Object | Section::Live => {
                        let template = line
                            .strip_prefix('\'')
                            .and_then(|rest| rest.split_once('\''))
                            .map(|(t, _)| t.to_string())
                            .ok_or_else(|| bad(format!("`{line}` is not a quoted prompt template")))?;
                        if !template.contains("{1}") {
                            return Err(bad(format!("the template `{template}` has no {{1}} (class) placeholder")));
                        }
                        if section == Section::Object { object_prompts.push(template) } else { live_prompts.push(template) }
                    }
                    Section::None => return Err(bad(format!("`{line}` comes before the Classes section"))),
                },
            }
        }
        if subjects.is_empty() || object_prompts.is_empty() || live_prompts.is_empty() {
            return Err(bad(format!(
                "found {} subjects, {} object prompts and {} live prompts; each list must be present",
                subjects.len(),
                object_prompts.len(),
                live_prompts.len()
            )));
        }
        Ok(Self { subjects, object_prompts, live_prompts })
    }

    /// The prompt templates of `subject`.
    pub fn templates(&self, subject: &Subject) -> &[String] {
        if subject.live { &self.live_prompts } else { &self.object_prompts }
    }

    /// The text prompt of `item` (class noun in place of the unique token).
    pub fn prompt(&self, item: &WorkItem) -> String {
        let subject = &self.subjects[item.subject];
        fill(&self.templates(subject)[item.prompt], &subject.class)
    }

    /// Every image of the protocol with `seeds` seeds (0, 1, …), subject by subject, prompt by
    /// prompt: the order shards split by index.
    pub fn work(&self, seeds: usize) -> Vec<WorkItem> {
        let mut out = Vec::new();
        for (s, subject) in self.subjects.iter().enumerate() {
            for p in 0..self.templates(subject).len() {
                out.extend((0..seeds as u64).map(|seed| WorkItem { subject: s, prompt: p, seed }));
            }
        }
        out
    }

    /// Where `item`'s image is written under the output folder: `<subject>/<prompt>-s<seed>.png`
    /// (prompt index two digits), the same on every machine so shards merge by file name.
    pub fn file_name(&self, item: &WorkItem) -> String {
        format!("{}/{:02}-s{}.png", self.subjects[item.subject].name, item.prompt, item.seed)
    }
}

/// A template with the unique token removed and the class noun filled in.
pub fn fill(template: &str, class: &str) -> String {
    let text = template.replace("{0} {1}", "{1}").replace("{0}", "");
    text.replace("{1}", class).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// EZIGen's subject prompt for a class: "a dog".
pub fn subject_prompt(class: &str) -> String {
    format!("a {class}")
}

/// A share of the work: items whose index `i` has `i % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard (0-based).
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// All the work.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n` (0 ≤ i < n).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Input(format!("--shard `{text}` is not i/n with 0 ≤ i < n (e.g. 0/4), or `auto`"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// The shard of an array job from the scheduler's variables (`var` looks one up): Slurm's
    /// `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (an array `--array=0-(n-1)`), or a
    /// Kubernetes indexed Job's `JOB_COMPLETION_INDEX` with `count` (the Job's `completions`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<Self> {
        let number = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| Error::Input(format!("{name}=`{v}` is not a number"))),
            }
        };
        let (index, total) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let total = number("SLURM_ARRAY_TASK_COUNT")?.or(count).ok_or_else(|| {
                Error::Input("--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; give --shard-count".into())
            })?;
            (id.checked_sub(min).ok_or_else(|| Error::Input("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN".into()))?, total)
        } else if let Some(id) = number("JOB_COMPLETION_INDEX")? {
            let total = count.ok_or_else(|| {
                Error::Input("--shard auto in a Kubernetes indexed Job needs --shard-count (the Job's completions)".into())
            })?;
            (id, total)
        } else {
            return Err(Error::Input(
                "--shard auto: neither SLURM_ARRAY_TASK_ID (Slurm array job) nor JOB_COMPLETION_INDEX (Kubernetes indexed Job) is set".into(),
            ));
        };
        if total == 0 || index >= total {
            return Err(Error::Input(format!("--shard auto: task {index} of {total} is out of range")));
        }
        Ok(Self { index, count: total })
    }

    /// Whether item number `i` of the work belongs to this shard.
    pub fn takes(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

/// The image files of a subject folder (`.jpg`, `.jpeg`, `.png`, any case), sorted by name.
pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg") || lower.ends_with(".png")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Classes\n\nsubject_name,class\nbackpack,backpack\ndog6,dog\nbear_plushie,stuffed animal\n\nPrompts\n\n\
        Object Prompts\n\nprompt_list = [\n'a {0} {1} in the jungle'.format(unique_token, class_token),\n\
        'a red {0} {1}'.format(unique_token, class_token)\n]\n\nLive Subject Prompts\n\nprompt_list = [\n\
        'a {0} {1} in a police outfit'.format(unique_token, class_token)\n]\n";

    #[test]
    fn parses_the_dataset_file() {
        let b = Benchmark::parse(SAMPLE).unwrap();
        assert_eq!(b.subjects.len(), 3);
        assert!(b.subjects[1].live && !b.subjects[0].live && !b.subjects[2].live);
        assert_eq!(b.object_prompts, ["a {0} {1} in the jungle", "a red {0} {1}"]);
        assert_eq!(b.live_prompts, ["a {0} {1} in a police outfit"]);
        let work = b.work(2);
        assert_eq!(work.len(), 2 * 2 + 2 + 2 * 2);
        assert_eq!(b.prompt(&work[2]), "a red backpack");
        assert_eq!(b.prompt(&work[4]), "a dog in a police outfit");
        assert_eq!(b.prompt(&work[6]), "a stuffed animal in the jungle");
        assert_eq!(b.file_name(&work[5]), "dog6/00-s1.png");
        assert_eq!(subject_prompt("dog"), "a dog");
    }

    #[test]
    fn refuses_broken_files() {
        assert!(Benchmark::parse("").is_err());
        assert!(Benchmark::parse("Classes\nno comma here\n").is_err());
        assert!(Benchmark::parse(&SAMPLE.replace("'a red {0} {1}'", "a red")).is_err());
    }

    #[test]
    fn shards_split_the_work_exactly() {
        assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for i in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.takes(i)).count(), 1);
        }
        let slurm = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some("2".to_string()),
            "SLURM_ARRAY_TASK_COUNT" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(Shard::from_env(slurm, None).unwrap(), Shard { index: 2, count: 4 });
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(Shard::from_env(k8s, Some(2)).unwrap(), Shard { index: 1, count: 2 });
        assert!(Shard::from_env(k8s, None).is_err());
        assert!(Shard::from_env(|_| None, Some(2)).is_err());
        assert!(Shard::from_env(k8s, Some(1)).is_err());
    }
}
