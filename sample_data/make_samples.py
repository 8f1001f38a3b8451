"""Generate the small synthetic sample datasets shipped with cockpit.

Run from the repository root:

    python sample_data/make_samples.py

Everything here is built from phrase templates written for this project
(subjects x actions x objects x qualifiers). There is no third-party data,
no network access and no randomness beyond a fixed seed, so running the
script twice produces identical files.

Outputs (next to this script):

* ``dei.parquet``       multi-label: ``text`` (str), ``labels`` (list[str]), 15 labels
* ``sentiment.parquet`` binary: ``text`` (str), ``label`` (int64, 1 = positive)
* ``topics.csv``        multi-class: ``text``, ``topic`` (6 topic names)
* ``similarity.parquet`` sentence pairs, regression: ``sentence1``, ``sentence2``, ``score`` (0-5)
* ``README.md``         description, label counts and a learnability check

Only the standard library and pyarrow are needed to write the data. If
scikit-learn is importable, a bag-of-words logistic-regression check is run
and its scores are written into README.md (``--no-check`` skips it).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SEED = 20240611

N_DEI = 250
N_SENTIMENT = 500
N_TOPICS_PER_CLASS = 60


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def join_list(items: list[str], rng: random.Random) -> str:
    """'a', 'a and b', 'a, b and c' (sometimes with an Oxford comma)."""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    oxford = "," if rng.random() < 0.3 else ""
    return ", ".join(items[:-1]) + f"{oxford} and {items[-1]}"


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def low(s: str) -> str:
    """Lower-case the first letter unless the subject starts with an acronym or 'I'."""
    first = s.split(" ", 1)[0]
    if first.isupper() or first == "I":
        return s
    return s[:1].lower() + s[1:]


def weighted_sample(rng: random.Random, items: list[str], weights: list[float], k: int) -> list[str]:
    """k distinct items, drawn without replacement proportionally to weight."""
    pool = list(zip(items, weights, strict=True))
    out: list[str] = []
    for _ in range(k):
        total = sum(w for _, w in pool)
        r = rng.random() * total
        acc = 0.0
        for i, (item, w) in enumerate(pool):
            acc += w
            if r <= acc:
                out.append(item)
                pool.pop(i)
                break
        else:  # floating-point edge: take the last one
            out.append(pool.pop()[0])
    return out


# ---------------------------------------------------------------------------
# 1. DEI statements (multi-label)
# ---------------------------------------------------------------------------

# Each label has verb phrases (VP, bare infinitive) and noun phrases (NP).
# Every phrase is meant to evoke exactly one label.
DEI_PHRASES: dict[str, dict[str, list[str]]] = {
    "Race and Ethnicity": {
        "vp": [
            "confront racism in all its forms",
            "close racial and ethnic achievement gaps",
            "support students of color at every stage",
            "dismantle structural racism",
            "celebrate the heritage of ethnic minority communities",
            "address racial disparities in graduation rates",
            "build an anti-racist campus culture",
            "amplify the voices of Black, Latinx, Asian American and Indigenous scholars",
        ],
        "np": [
            "racial justice",
            "anti-racism initiatives",
            "the success of students of color",
            "the experiences of Black and Indigenous students",
            "culturally affirming spaces for students of color",
            "efforts against racial and ethnic discrimination",
            "the representation of historically excluded racial groups",
        ],
    },
    "Gender": {
        "vp": [
            "advance gender equality",
            "confront sexism and gender-based harassment",
            "support women in science and engineering",
            "increase the number of women in senior leadership",
            "address gender gaps in promotion",
            "prevent sexual harassment and gender-based violence",
            "elevate the leadership of women",
        ],
        "np": [
            "gender equality",
            "women's leadership",
            "the advancement of women faculty",
            "protections against sexual harassment",
            "gender-balanced committees",
            "programs for women in science and engineering",
        ],
    },
    "Disability and Accessibility": {
        "vp": [
            "remove physical and digital barriers for people with disabilities",
            "provide timely academic accommodations",
            "make every building and website accessible",
            "caption all lecture videos",
            "support students with learning disabilities",
            "expand access to assistive technology",
            "design accessible spaces from the start",
        ],
        "np": [
            "accessibility",
            "disability inclusion",
            "accessible classrooms and residence halls",
            "reasonable accommodations for disabled employees",
            "screen-reader compatible course materials",
            "the disability resource center",
            "wheelchair-accessible facilities",
        ],
    },
    "Mentorship": {
        "vp": [
            "pair first-year students with faculty mentors",
            "expand peer mentoring networks",
            "mentor early-career faculty",
            "connect graduate students with mentors who share their experiences",
            "train faculty to be effective mentors",
            "coach and sponsor emerging leaders",
        ],
        "np": [
            "mentorship programs",
            "peer mentoring",
            "structured mentoring for junior faculty",
            "mentor networks for graduate students",
            "mentoring circles",
            "coaching and sponsorship",
        ],
    },
    "Hiring and Recruitment": {
        "vp": [
            "recruit a more diverse faculty",
            "diversify search committees",
            "broaden applicant pools for every open position",
            "hire and retain faculty from a wider range of backgrounds",
            "write inclusive job descriptions",
            "recruit staff through new hiring channels",
            "launch cluster hiring initiatives",
        ],
        "np": [
            "inclusive hiring practices",
            "faculty recruitment",
            "diverse candidate pools",
            "equitable search procedures",
            "cluster hiring",
            "the recruitment and retention of diverse staff",
        ],
    },
    "Bias Training": {
        "vp": [
            "require implicit bias training for all supervisors",
            "offer workshops on unconscious bias",
            "train employees to recognize and interrupt bias",
            "hold bystander intervention trainings",
            "provide cultural competency training for all employees",
            "complete annual anti-bias education",
        ],
        "np": [
            "implicit bias training",
            "unconscious bias workshops",
            "cultural competency training",
            "bystander intervention education",
            "anti-bias professional development",
            "training on microaggressions",
        ],
    },
    "LGBTQ+ Inclusion": {
        "vp": [
            "support LGBTQ+ students, faculty and staff",
            "respect chosen names and pronouns",
            "celebrate Pride month across campus",
            "protect transgender and nonbinary community members",
            "fund the LGBTQ+ resource center",
            "affirm queer and trans identities",
        ],
        "np": [
            "LGBTQ+ inclusion",
            "support for transgender and nonbinary students",
            "the use of chosen names and pronouns",
            "queer and trans student organizations",
            "Pride programming",
            "a network of LGBTQ+ allies",
        ],
    },
    "Socioeconomic Access": {
        "vp": [
            "expand need-based financial aid",
            "support first-generation and low-income students",
            "eliminate hidden course costs",
            "provide emergency grants to students facing financial hardship",
            "reduce student debt",
            "offer free textbooks and a campus food pantry",
        ],
        "np": [
            "socioeconomic access",
            "need-based scholarships",
            "affordability for low-income families",
            "support for first-generation college students",
            "emergency financial assistance",
            "tuition-free pathways for working-class students",
        ],
    },
    "Religion": {
        "vp": [
            "accommodate religious holidays and observances",
            "provide interfaith prayer and meditation spaces",
            "respect diverse faith traditions",
            "confront antisemitism and Islamophobia",
            "support students of every religion and of none",
            "offer halal and kosher dining options",
        ],
        "np": [
            "religious diversity",
            "interfaith dialogue",
            "accommodations for religious observance",
            "multifaith prayer rooms",
            "respect for every faith tradition",
            "protections against religious discrimination",
        ],
    },
    "Veterans": {
        "vp": [
            "support student veterans and military-connected families",
            "ease the transition from military service to campus life",
            "award academic credit for military training",
            "expand the veterans resource center",
            "honor the service of veterans",
            "help service members use their GI Bill benefits",
        ],
        "np": [
            "veteran services",
            "support for student veterans",
            "military-connected students",
            "the veterans resource center",
            "programs for active-duty service members",
            "GI Bill advising",
        ],
    },
    "International Students": {
        "vp": [
            "welcome international students",
            "help international students navigate visa requirements",
            "offer English language support to students from abroad",
            "connect students from overseas with host families",
            "expand global exchange partnerships",
            "ease the cultural transition for newly arrived international scholars",
        ],
        "np": [
            "international student services",
            "visa and immigration advising",
            "support for students from abroad",
            "global exchange programs",
            "English as a second language resources",
            "orientation for international scholars",
        ],
    },
    "Pay Equity": {
        "vp": [
            "close pay gaps",
            "audit salaries for inequities",
            "ensure equal pay for equal work",
            "publish salary bands for every role",
            "raise wages for the lowest-paid employees",
            "correct compensation disparities",
        ],
        "np": [
            "pay equity",
            "fair compensation",
            "transparent salary structures",
            "regular compensation reviews",
            "equal pay",
            "living wages for all staff",
        ],
    },
    "Community Outreach": {
        "vp": [
            "partner with local schools and nonprofits",
            "engage neighboring communities",
            "open campus resources to local residents",
            "host community forums",
            "build pipelines with K-12 schools in the region",
            "support service-learning in surrounding neighborhoods",
        ],
        "np": [
            "community partnerships",
            "outreach to local neighborhoods",
            "civic engagement",
            "collaboration with community organizations",
            "public programs for local families",
            "service-learning projects",
        ],
    },
    "Curriculum": {
        "vp": [
            "integrate diverse perspectives into the curriculum",
            "revise course syllabi to include a wider range of authors",
            "create new courses on social justice",
            "require a diversity course for every undergraduate",
            "decolonize the curriculum",
            "embed inclusive pedagogy in every classroom",
        ],
        "np": [
            "an inclusive curriculum",
            "diversity course requirements",
            "culturally responsive teaching",
            "inclusive pedagogy",
            "general education courses on justice",
            "syllabi that reflect many voices",
        ],
    },
    "Accountability and Reporting": {
        "vp": [
            "publish an annual diversity report",
            "track progress with clear metrics",
            "collect and share climate survey data",
            "hold leaders accountable for inclusion goals",
            "report bias incidents transparently",
            "review outcomes every year and make the results public",
        ],
        "np": [
            "accountability",
            "transparent reporting",
            "campus climate surveys",
            "public dashboards of progress",
            "annual progress reports",
            "clear benchmarks and metrics",
        ],
    },
}

DEI_LABELS = list(DEI_PHRASES)

# Relative label popularity (not uniform, like real data), all well above the minimum.
DEI_WEIGHTS = {
    "Race and Ethnicity": 1.6,
    "Gender": 1.5,
    "Disability and Accessibility": 1.2,
    "Mentorship": 1.3,
    "Hiring and Recruitment": 1.4,
    "Bias Training": 1.1,
    "LGBTQ+ Inclusion": 1.0,
    "Socioeconomic Access": 1.1,
    "Religion": 0.7,
    "Veterans": 0.6,
    "International Students": 0.8,
    "Pay Equity": 0.8,
    "Community Outreach": 1.0,
    "Curriculum": 1.2,
    "Accountability and Reporting": 1.3,
}

# Verb phrases that naturally cover two labels at once.
DEI_COMPOUND_VPS: dict[frozenset[str], list[str]] = {
    frozenset({"Race and Ethnicity", "Gender"}): [
        "confront racism and the intersectionality of race and sexism",
        "support women of color in leadership roles",
    ],
    frozenset({"Mentorship", "Gender"}): ["mentor women faculty in science and engineering"],
    frozenset({"Hiring and Recruitment", "Bias Training"}): [
        "train every search committee to recognize bias before interviews begin",
    ],
    frozenset({"Veterans", "Hiring and Recruitment"}): ["recruit veterans into staff positions"],
    frozenset({"LGBTQ+ Inclusion", "Race and Ethnicity"}): ["support LGBTQ+ students of color"],
    frozenset({"Mentorship", "Socioeconomic Access"}): [
        "pair first-generation students with peer mentors",
    ],
    frozenset({"Curriculum", "Disability and Accessibility"}): [
        "apply universal design to every course",
    ],
    frozenset({"Community Outreach", "International Students"}): [
        "connect international students with local community groups",
    ],
}

DEI_SUBJECTS = [
    # (subject, is_plural)
    ("The university", False),
    ("Our college", False),
    ("The Office of Inclusive Excellence", False),
    ("Each department", False),
    ("The provost's office", False),
    ("Academic leadership", False),
    ("The institution", False),
    ("The faculty senate", False),
    ("Every school and college", False),
    ("We", True),
    ("Deans and department chairs", True),
    ("Campus leaders", True),
]
DEI_MODALS = ["will", "must", "should continue to", "will work to", "shall", "will actively"]
DEI_AUDIENCES = [
    "faculty, staff and students",
    "all members of the campus community",
    "students and employees",
    "department chairs",
    "faculty and staff",
    "student leaders",
    "managers and supervisors",
]
DEI_IMPERATIVE_LEADS = ["Encourage", "Empower", "Work with", "Invite", "Support", "Call on"]
DEI_NP_VERBS = [
    # (singular, plural)
    ("is committed to", "are committed to"),
    ("remains committed to", "remain committed to"),
    ("will invest in", "will invest in"),
    ("will prioritize", "will prioritize"),
    ("will champion", "will champion"),
    ("pledges sustained support for", "pledge sustained support for"),
    ("will strengthen", "will strengthen"),
]
DEI_NP_FRAMES = [
    "Our strategic plan calls for {nps}{qual}.",
    "Priorities for the coming years include {nps}.",
    "This statement affirms our commitment to {nps}{qual}.",
    "We recognize that {nps} are essential to academic excellence.",
    "Our goals include {nps}{qual}.",
    "A welcoming campus depends on {nps}.",
]
DEI_QUALIFIERS = [
    "",
    "",
    "",
    " across all campuses",
    " in every college and unit",
    " over the next five years",
    " as part of our strategic plan",
    " at every level of the institution",
    " this academic year",
    " wherever possible",
    " in a sustained and visible way",
    " as a matter of institutional priority",
]
DEI_FRONT_QUALIFIERS = [
    "Over the next five years",
    "Beginning this fall",
    "As part of our strategic plan",
    "In every college and unit",
    "Building on recent progress",
    "Guided by our core values",
]
# Distribution of the number of labels per statement (mean ~3.4).
DEI_K_WEIGHTS = {1: 0.05, 2: 0.20, 3: 0.30, 4: 0.25, 5: 0.13, 6: 0.07}


def _dei_vps(labels: list[str], rng: random.Random) -> list[str]:
    """One verb phrase per label, merging a pair into a compound phrase sometimes."""
    remaining = list(labels)
    vps: list[str] = []
    for pair, phrases in DEI_COMPOUND_VPS.items():
        if pair <= set(remaining) and rng.random() < 0.5:
            vps.append(rng.choice(phrases))
            remaining = [lab for lab in remaining if lab not in pair]
    vps.extend(rng.choice(DEI_PHRASES[lab]["vp"]) for lab in remaining)
    rng.shuffle(vps)
    return vps


def _dei_nps(labels: list[str], rng: random.Random) -> list[str]:
    nps = [rng.choice(DEI_PHRASES[lab]["np"]) for lab in labels]
    rng.shuffle(nps)
    return nps


def dei_sentence(labels: list[str], rng: random.Random) -> str:
    k = len(labels)
    subj, plural = rng.choice(DEI_SUBJECTS)
    modal = rng.choice(DEI_MODALS)
    qual = rng.choice(DEI_QUALIFIERS)

    forms = ["subject_vp", "imperative", "bare_imperative", "subject_np"]
    if k <= 4:
        forms.append("np_frame")
    if k >= 2:
        forms += ["through", "front_qualifier"]
    if k >= 4:
        forms += ["split", "split"]
    form = rng.choice(forms)

    if form == "subject_vp":
        return f"{subj} {modal} {join_list(_dei_vps(labels, rng), rng)}{qual}."
    if form == "imperative":
        lead = rng.choice(DEI_IMPERATIVE_LEADS)
        return f"{lead} {rng.choice(DEI_AUDIENCES)} to {join_list(_dei_vps(labels, rng), rng)}{qual}."
    if form == "bare_imperative":
        return cap(join_list(_dei_vps(labels, rng), rng)) + f"{qual}."
    if form == "subject_np":
        verb = rng.choice(DEI_NP_VERBS)[1 if plural else 0]
        return f"{subj} {verb} {join_list(_dei_nps(labels, rng), rng)}{qual}."
    if form == "np_frame":
        frame = rng.choice(DEI_NP_FRAMES)
        return frame.format(nps=join_list(_dei_nps(labels, rng), rng), qual=qual)
    if form == "through":
        first, rest = labels[0], labels[1:]
        np = rng.choice(DEI_PHRASES[first]["np"])
        lead = rng.choice(["Through", "By investing in", "Alongside", "Building on"])
        return f"{lead} {np}, {low(subj)} {modal} {join_list(_dei_vps(rest, rng), rng)}{qual}."
    if form == "front_qualifier":
        front = rng.choice(DEI_FRONT_QUALIFIERS)
        return f"{front}, {low(subj)} {modal} {join_list(_dei_vps(labels, rng), rng)}."
    # split: two clauses for long label sets
    vps = _dei_vps(labels, rng)
    h = len(vps) // 2
    if rng.random() < 0.5:
        return f"{subj} {modal} {join_list(vps[:h], rng)}{qual}, and will also {join_list(vps[h:], rng)}."
    other, _ = rng.choice([s for s in DEI_SUBJECTS if s[0] != subj])
    return f"{subj} {modal} {join_list(vps[:h], rng)}. In addition, {low(other)} will {join_list(vps[h:], rng)}{qual}."


def make_dei(rng: random.Random) -> list[dict]:
    ks = list(DEI_K_WEIGHTS)
    kw = list(DEI_K_WEIGHTS.values())
    weights = [DEI_WEIGHTS[lab] for lab in DEI_LABELS]
    rows: list[dict] = []
    seen: set[str] = set()
    while len(rows) < N_DEI:
        k = rng.choices(ks, kw)[0]
        labels = weighted_sample(rng, DEI_LABELS, weights, k)
        text = dei_sentence(labels, rng)
        if text in seen:
            continue
        seen.add(text)
        # labels in canonical (label-list) order
        rows.append({"text": text, "labels": [lab for lab in DEI_LABELS if lab in labels]})
    return rows


# ---------------------------------------------------------------------------
# 2. Sentiment (binary)
# ---------------------------------------------------------------------------

SENT_DOMAINS: dict[str, dict[str, list]] = {
    "product": {
        "items": [
            "blender",
            "phone case",
            "vacuum cleaner",
            "pair of headphones",
            "laptop stand",
            "coffee maker",
            "backpack",
            "desk lamp",
            "keyboard",
            "water bottle",
            "air fryer",
            "electric toothbrush",
        ],
        # (aspect, plural)
        "aspects": [
            ("build quality", False),
            ("battery life", False),
            ("sound", False),
            ("price", False),
            ("design", False),
            ("instructions", True),
            ("buttons", True),
            ("setup", False),
        ],
        "pos_extra": [
            "It arrived early and works perfectly.",
            "Worth every penny.",
            "It has held up beautifully after months of daily use.",
            "I already ordered a second one as a gift.",
        ],
        "neg_extra": [
            "It broke after two days.",
            "Not worth the money.",
            "I am returning it for a refund.",
            "It stopped working within a week.",
        ],
    },
    "film": {
        "items": [
            "movie",
            "film",
            "documentary",
            "sequel",
            "thriller",
            "comedy",
            "animated feature",
            "mystery",
            "period drama",
            "horror film",
        ],
        "aspects": [
            ("acting", False),
            ("plot", False),
            ("script", False),
            ("soundtrack", False),
            ("cinematography", False),
            ("ending", False),
            ("pacing", False),
            ("characters", True),
            ("special effects", True),
        ],
        "pos_extra": [
            "I could not look away for a second.",
            "I want to watch it again this weekend.",
            "The whole audience applauded at the end.",
            "It deserves every award it gets.",
        ],
        "neg_extra": [
            "I nearly walked out halfway through.",
            "I kept checking my watch.",
            "Two hours of my life I will never get back.",
            "Half the theater fell asleep.",
        ],
    },
    "restaurant": {
        "items": [
            "restaurant",
            "bistro",
            "pizza place",
            "sushi bar",
            "diner",
            "cafe",
            "taco truck",
            "steakhouse",
            "noodle shop",
            "bakery",
        ],
        "aspects": [
            ("food", False),
            ("service", False),
            ("staff", False),
            ("portions", True),
            ("atmosphere", False),
            ("dessert", False),
            ("coffee", False),
            ("waiter", False),
            ("prices", True),
        ],
        "pos_extra": [
            "We will definitely be back.",
            "Every dish came out hot and fresh.",
            "Best meal I have had in months.",
            "The owner even came by to say hello.",
        ],
        "neg_extra": [
            "We waited an hour for cold food.",
            "We will not be coming back.",
            "The table was sticky and the floor was dirty.",
            "They got our order wrong twice.",
        ],
    },
}

POS_ADJ = [
    "excellent",
    "fantastic",
    "wonderful",
    "delightful",
    "superb",
    "brilliant",
    "outstanding",
    "impressive",
    "lovely",
    "great",
    "charming",
    "flawless",
    "amazing",
    "terrific",
    "perfect",
]
NEG_ADJ = [
    "terrible",
    "awful",
    "disappointing",
    "dreadful",
    "mediocre",
    "poor",
    "horrible",
    "lousy",
    "dull",
    "frustrating",
    "pathetic",
    "unbearable",
    "sloppy",
    "useless",
    "bad",
]
ADVERBS = ["", "", "really ", "truly ", "absolutely ", "genuinely ", "surprisingly ", "simply "]
# "{be}" agrees with the reviewer ("I was", "we were")
POS_VERBS = ["loved", "enjoyed", "adored", "{be} thrilled with", "{be} impressed by", "{be} delighted by"]
NEG_VERBS = [
    "hated",
    "{be} disappointed by",
    "{be} let down by",
    "could not stand",
    "regretted choosing",
    "{be} annoyed by",
]
POS_CLOSERS = [
    "Highly recommended.",
    "Five stars from me.",
    "Would recommend it to anyone.",
    "A real gem.",
    "I have no complaints at all.",
    "Absolutely worth it.",
]
NEG_CLOSERS = [
    "Would not recommend.",
    "Avoid it.",
    "One star.",
    "What a waste.",
    "Never again.",
    "Do not bother.",
]
# Moderate use of negation: these flip the surface polarity of the word they negate.
POS_NEGATED = ["not disappointing in the slightest", "never boring", "not bad at all", "anything but dull"]
NEG_NEGATED = ["not good at all", "not worth it", "far from great", "not impressive in any way"]
# (reviewer, plural)
# Mild opposite-polarity words for "X was <mild>, but overall ..." contrasts.
MILD_POS = ["decent", "fine", "nice enough", "acceptable", "okay"]
MILD_NEG = ["not perfect", "a little uneven", "a bit underwhelming", "somewhat forgettable", "so-so"]
REVIEWERS = [
    ("I", False),
    ("My partner and I", True),
    ("We", True),
    ("My whole family", False),
    ("My friends and I", True),
]


def _be(plural: bool) -> str:
    return "were" if plural else "was"


def sentiment_sentence(label: int, rng: random.Random) -> str:
    dom = SENT_DOMAINS[rng.choice(list(SENT_DOMAINS))]
    item = rng.choice(dom["items"])
    aspect, plural = rng.choice(dom["aspects"])
    aspect2, plural2 = rng.choice([a for a in dom["aspects"] if a[0] != aspect])
    pos = label == 1
    adj = rng.choice(POS_ADJ if pos else NEG_ADJ)
    adj2 = rng.choice([a for a in (POS_ADJ if pos else NEG_ADJ) if a != adj])
    adv = rng.choice(ADVERBS)
    closer = rng.choice(POS_CLOSERS if pos else NEG_CLOSERS)
    extra = rng.choice(dom["pos_extra"] if pos else dom["neg_extra"])
    negated = rng.choice(POS_NEGATED if pos else NEG_NEGATED)
    who, who_plural = rng.choice(REVIEWERS)
    verb = rng.choice(POS_VERBS if pos else NEG_VERBS).format(be=_be(who_plural))
    mild_opp = rng.choice(MILD_NEG if pos else MILD_POS)

    form = rng.randrange(9)
    if form == 0:
        return f"The {aspect} {_be(plural)} {adv}{adj}. {closer}"
    if form == 1:
        return f"{who} {verb} this {item}. {extra}"
    if form == 2:
        return f"{cap(adj)} {item}. {extra}"
    if form == 3:
        return f"The {aspect} {_be(plural)} {adj} and the {aspect2} {_be(plural2)} {adv}{adj2}."
    if form == 4:
        return f"What {'an' if adj[0] in 'aeiou' else 'a'} {adj} {item}! {closer}"
    if form == 5:
        return f"Honestly, the {item} was {negated}. {closer}"
    if form == 6:
        # mild contrast; the final clause carries the label
        return f"The {aspect} {_be(plural)} {mild_opp}, but overall the {item} was {adv}{adj}."
    if form == 7:
        where = "at" if dom is SENT_DOMAINS["restaurant"] else "of"
        pron = "they were" if plural else "it was"
        return f"{who} {verb} the {aspect} {where} this {item}; {pron} {adj}."
    return f"This {item} is {adv}{adj}. {extra} {closer}"


def make_sentiment(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    seen: set[str] = set()
    labels = [i % 2 for i in range(N_SENTIMENT)]
    rng.shuffle(labels)
    for label in labels:
        while True:
            text = sentiment_sentence(label, rng)
            if text not in seen:
                break
        seen.add(text)
        rows.append({"text": text, "label": label})
    return rows


# ---------------------------------------------------------------------------
# 3. Topics (multi-class)
# ---------------------------------------------------------------------------

TOPICS: dict[str, dict[str, list[str]]] = {
    "sports": {
        "subjects": [
            "The home team",
            "The veteran striker",
            "The head coach",
            "Our goalkeeper",
            "The tennis champion",
            "The league's top scorer",
            "The rookie quarterback",
            "The relay squad",
        ],
        "actions": [
            "scored twice in the second half",
            "won the championship final",
            "signed a new three-year contract with the club",
            "was benched for the playoff game",
            "broke the club record for assists",
            "clinched a playoff spot",
            "defeated their rivals on penalties",
            "qualified for the Olympic final",
            "lost the derby in extra time",
        ],
        "quals": [
            "in front of a sold-out stadium",
            "during the tournament",
            "this season",
            "before the transfer deadline",
            "at the home ground",
        ],
        "follow": [
            "Fans celebrated long after the final whistle.",
            "The manager praised the defense after the match.",
            "Tickets for the next fixture sold out within hours.",
            "The referee's late call is still being debated by supporters.",
        ],
    },
    "politics": {
        "subjects": [
            "The senator",
            "The prime minister",
            "Opposition leaders",
            "The city council",
            "Parliament",
            "The governor",
            "The ruling coalition",
            "The foreign minister",
        ],
        "actions": [
            "introduced a bill to reform campaign finance",
            "vetoed the budget proposal",
            "called for an early election",
            "won the runoff by a narrow margin",
            "debated the new immigration law",
            "announced a cabinet reshuffle",
            "passed the legislation after a long debate",
            "faced a vote of no confidence",
            "signed a treaty with neighboring states",
        ],
        "quals": [
            "ahead of the midterm elections",
            "in the capital",
            "after weeks of negotiations",
            "despite protests from lawmakers",
            "during a televised address",
        ],
        "follow": [
            "Voters will head to the polls in the spring.",
            "Critics in the legislature called the move unconstitutional.",
            "The party's approval ratings have slipped in recent polls.",
            "Diplomats expect the talks to resume next month.",
        ],
    },
    "technology": {
        "subjects": [
            "The chip designer",
            "Engineers at the smartphone maker",
            "The app developer",
            "A team of software engineers",
            "The social network",
            "The cloud provider",
            "The open-source project",
            "The robotics lab",
        ],
        "actions": [
            "released a major update to its operating system",
            "unveiled a faster processor",
            "patched a critical security vulnerability",
            "launched a new cloud storage service",
            "open-sourced its machine learning framework",
            "rolled out end-to-end encrypted messaging",
            "shipped a browser with built-in AI features",
            "demoed a foldable laptop",
            "fixed a bug that crashed thousands of servers",
        ],
        "quals": [
            "at its annual developer conference",
            "for millions of users",
            "in a software update",
            "after a beta test",
            "on its website",
        ],
        "follow": [
            "Users can download the update from the app store.",
            "Security researchers had reported the flaw weeks earlier.",
            "Developers praised the new programming interface.",
            "The code is available on a public repository.",
        ],
    },
    "health": {
        "subjects": [
            "Doctors",
            "The hospital",
            "Public health officials",
            "Nurses at the clinic",
            "A new clinical trial",
            "The health ministry",
            "Pediatricians",
            "Cardiologists",
        ],
        "actions": [
            "recommended annual flu vaccinations",
            "reported a drop in hospital admissions",
            "warned about rising blood pressure among adults",
            "treated patients with a promising new therapy",
            "urged people to get more sleep and exercise",
            "expanded mental health services",
            "tracked an outbreak of measles",
            "found that the drug lowered cholesterol",
            "advised patients with diabetes to monitor their diet",
        ],
        "quals": [
            "during the winter flu season",
            "in rural clinics",
            "for older patients",
            "after a spike in infections",
            "at the medical center",
        ],
        "follow": [
            "Patients should speak with their physician before changing medication.",
            "Emergency rooms remain busy across the region.",
            "The vaccine is free for children under five.",
            "Symptoms include fever, cough and fatigue.",
        ],
    },
    "science": {
        "subjects": [
            "Astronomers",
            "Physicists",
            "A team of biologists",
            "Geologists",
            "Chemists",
            "Marine scientists",
            "Paleontologists",
            "Climate scientists",
        ],
        "actions": [
            "discovered a new exoplanet orbiting a distant star",
            "measured gravitational waves",
            "sequenced the genome of an ancient plant",
            "observed a rare particle decay",
            "mapped ocean currents beneath the ice shelf",
            "identified fossils of an unknown dinosaur species",
            "synthesized a new superconducting material",
            "detected water vapor in the atmosphere of a moon",
            "dated volcanic rocks to four billion years ago",
        ],
        "quals": [
            "using a space telescope",
            "in a peer-reviewed journal",
            "at the particle accelerator",
            "during a field expedition",
            "in the laboratory",
        ],
        "follow": [
            "The findings could reshape theories about the early universe.",
            "The experiment will be repeated to confirm the measurement.",
            "The samples are now stored at the natural history museum.",
            "Further observations are planned with the next telescope.",
        ],
    },
    "business": {
        "subjects": [
            "The retailer",
            "Shareholders",
            "The bank",
            "Investors",
            "The airline",
            "The company's chief executive",
            "The manufacturer",
            "The hedge fund",
        ],
        "actions": [
            "reported higher quarterly profits",
            "announced a merger with a rival",
            "cut its revenue forecast",
            "laid off hundreds of workers",
            "saw its stock price climb",
            "expanded into new overseas markets",
            "approved a dividend increase",
            "raised fresh capital from venture investors",
            "filed for bankruptcy protection",
        ],
        "quals": [
            "on Wall Street",
            "after the earnings call",
            "in the latest fiscal quarter",
            "amid rising costs",
            "according to a regulatory filing",
        ],
        "follow": [
            "Shares rose four percent in early trading.",
            "Analysts expect sales to slow next quarter.",
            "The deal is valued at two billion dollars.",
            "The board will vote on the proposal next month.",
        ],
    },
}
GENERIC_TIMES = ["on Monday", "on Tuesday", "last week", "earlier this month", "on Friday", "yesterday"]
SOURCES = ["officials said", "a spokesperson said", "according to local reports", "sources confirmed"]


def topic_sentence(topic: str, rng: random.Random) -> str:
    t = TOPICS[topic]
    subj = rng.choice(t["subjects"])
    action = rng.choice(t["actions"])
    qual = rng.choice(t["quals"])
    when = rng.choice(GENERIC_TIMES)
    form = rng.randrange(6)
    if form == 0:
        return f"{subj} {action} {qual}."
    if form == 1:
        return f"{subj} {action} {when}, {rng.choice(SOURCES)}."
    if form == 2:
        return f"{cap(when)}, {low(subj)} {action} {qual}."
    if form == 3:
        return f"{subj} {action} {when}. {rng.choice(t['follow'])}"
    if form == 4:
        src = rng.choice(["Reports say", "It was confirmed that", "Sources say"])
        return f"{src} {low(subj)} {action}."
    return f"{subj} {action} {qual} {when}."


def make_topics(rng: random.Random) -> list[dict]:
    order = [t for t in TOPICS for _ in range(N_TOPICS_PER_CLASS)]
    rng.shuffle(order)
    rows: list[dict] = []
    seen: set[str] = set()
    for topic in order:
        while True:
            text = topic_sentence(topic, rng)
            if text not in seen:
                break
        seen.add(text)
        rows.append({"text": text, "topic": topic})
    return rows


N_SIMILARITY = 300
# Topics that share words and readers score as somewhat alike; the rest as unrelated.
RELATED_TOPICS = {frozenset(p) for p in (("technology", "science"), ("business", "politics"), ("health", "science"))}


def make_similarity(rng: random.Random) -> list[dict]:
    """STS-B-style sentence pairs scored 0-5 by how alike their topics are: the same topic 4-5, related
    topics 2-3, unrelated ones 0-1 (one decimal, so the column is fractional: regression)."""
    names = list(TOPICS)
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    while len(rows) < N_SIMILARITY:
        first = rng.choice(names)
        kind = rng.random()
        if kind < 0.4:
            second, base = first, 4.0
        else:
            second = rng.choice([n for n in names if n != first])
            base = 2.0 if frozenset((first, second)) in RELATED_TOPICS else 0.0
        pair = (topic_sentence(first, rng), topic_sentence(second, rng))
        if pair in seen or pair[0] == pair[1]:
            continue
        seen.add(pair)
        rows.append({"sentence1": pair[0], "sentence2": pair[1], "score": round(base + rng.uniform(0.0, 1.0), 1)})
    return rows


# ---------------------------------------------------------------------------
# writing + checks
# ---------------------------------------------------------------------------


def write_parquet(rows: list[dict], path: Path, schema: pa.Schema) -> None:
    cols = {name: [r[name] for r in rows] for name in schema.names}
    table = pa.table(cols, schema=schema)
    pq.write_table(table, path, compression="zstd")


def write_csv(rows: list[dict], path: Path, fields: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def learnability(dei: list[dict], sent: list[dict], topics: list[dict]) -> dict[str, str] | None:
    """Bag-of-words logistic regression on a seeded 80/20 split (needs scikit-learn)."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.model_selection import train_test_split
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer
    except ImportError:
        return None

    out: dict[str, str] = {}
    for name, rows, key in (("sentiment", sent, "label"), ("topics", topics, "topic")):
        x = [r["text"] for r in rows]
        y = [r[key] for r in rows]
        xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
        vec = CountVectorizer()
        clf = LogisticRegression(max_iter=2000).fit(vec.fit_transform(xtr), ytr)
        acc = accuracy_score(yte, clf.predict(vec.transform(xte)))
        base = Counter(yte).most_common(1)[0][1] / len(yte)
        out[name] = f"accuracy {acc:.3f} (majority baseline {base:.3f}, {len(xte)} test rows)"

    x = [r["text"] for r in dei]
    mlb = MultiLabelBinarizer(classes=DEI_LABELS)
    y = mlb.fit_transform([r["labels"] for r in dei])
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0)
    vec = CountVectorizer()
    clf = OneVsRestClassifier(LogisticRegression(max_iter=2000)).fit(vec.fit_transform(xtr), ytr)
    pred = clf.predict(vec.transform(xte))
    micro = f1_score(yte, pred, average="micro", zero_division=0)
    macro = f1_score(yte, pred, average="macro", zero_division=0)
    # baseline: predict the k most frequent training labels for every row (k = mean labels/row)
    k = max(1, round(ytr.sum(axis=1).mean()))
    top = ytr.sum(axis=0).argsort()[::-1][:k]
    base_pred = yte * 0
    base_pred[:, top] = 1
    base = f1_score(yte, base_pred, average="micro", zero_division=0)
    out["dei"] = (
        f"micro-F1 {micro:.3f}, macro-F1 {macro:.3f} "
        f"(baseline 'always predict the {k} most frequent labels' micro-F1 {base:.3f}, {len(xte)} test rows)"
    )
    return out


def readme(dei: list[dict], sent: list[dict], topics: list[dict], scores: dict[str, str] | None) -> str:
    dei_counts = Counter(lab for r in dei for lab in r["labels"])
    k_counts = Counter(len(r["labels"]) for r in dei)
    mean_k = sum(len(r["labels"]) for r in dei) / len(dei)
    sent_counts = Counter(r["label"] for r in sent)
    topic_counts = Counter(r["topic"] for r in topics)

    lines = [
        "# Sample datasets",
        "",
        "Small **synthetic** text-classification datasets for trying cockpit without downloading",
        "anything. They were generated by",
        "",
        "```",
        "python sample_data/make_samples.py",
        "```",
        "",
        "from compositional phrase templates (subjects x actions x objects x qualifiers) written",
        "for this project. No third-party data is included. The generator is seeded, so re-running",
        "it reproduces the same files. The sentences are made up, and the phrase lists are short,",
        "so models will score much higher here than on real data.",
        "",
        "| file | task | rows | columns |",
        "|---|---|---|---|",
        f"| `dei.parquet` | multi-label, 15 labels | {len(dei)} | `text` (string), "
        "`labels` (list of label-name strings) |",
        f"| `sentiment.parquet` | binary | {len(sent)} | `text` (string), `label` (int64: 1 = positive, "
        "0 = negative) |",
        f"| `topics.csv` | multi-class, 6 classes | {len(topics)} | `text`, `topic` (class name) |",
        "",
        "All texts are unique within each file.",
        "",
        "## dei.parquet",
        "",
        "Sentences in the style of university Diversity, Equity and Inclusion statements, e.g.",
        f'*"{dei[0]["text"]}"* -> `{dei[0]["labels"]}`.',
        "Each sentence is built by joining phrases that each evoke one label, so the labels",
        "can be learned from the words.",
        "",
        f"Labels per row: mean **{mean_k:.2f}**; distribution "
        + ", ".join(f"{k}: {k_counts[k]}" for k in sorted(k_counts))
        + ".",
        "",
        "| label | rows |",
        "|---|---|",
        *[f"| {lab} | {dei_counts[lab]} |" for lab in DEI_LABELS],
        "",
        "## sentiment.parquet",
        "",
        "Short review-like sentences about products, films and restaurants, e.g.",
        f'*"{sent[0]["text"]}"* -> `{sent[0]["label"]}`.',
        'Some reviews use negation ("not bad at all") or a contrast ("... but overall ...").',
        "",
        f"Label counts: 1 (positive) = {sent_counts[1]}, 0 (negative) = {sent_counts[0]}.",
        "",
        "## topics.csv",
        "",
        "News-headline-like sentences, e.g.",
        f'*"{topics[0]["text"]}"* -> `{topics[0]["topic"]}`.',
        "",
        "| topic | rows |",
        "|---|---|",
        *[f"| {t} | {topic_counts[t]} |" for t in TOPICS],
        "",
        "## Learnability check",
        "",
    ]
    if scores is None:
        lines.append("scikit-learn was not installed when this README was generated; no scores.")
    else:
        lines += [
            "Bag-of-words (`CountVectorizer`) logistic regression, seeded 80/20 split",
            "(`random_state=0`; stratified for sentiment and topics; one-vs-rest for dei):",
            "",
            f"- sentiment: {scores['sentiment']}",
            f"- topics: {scores['topics']}",
            f"- dei: {scores['dei']}",
        ]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: next to this script)")
    ap.add_argument("--no-check", action="store_true", help="skip the scikit-learn learnability check")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    dei = make_dei(random.Random(SEED))
    sent = make_sentiment(random.Random(SEED + 1))
    topics = make_topics(random.Random(SEED + 2))
    similarity = make_similarity(random.Random(SEED + 3))

    dei_counts = Counter(lab for r in dei for lab in r["labels"])
    assert len(dei_counts) == 15 and min(dei_counts.values()) >= 25, dei_counts
    for rows in (dei, sent, topics):
        assert len({r["text"] for r in rows}) == len(rows)

    write_parquet(dei, out / "dei.parquet", pa.schema([("text", pa.string()), ("labels", pa.list_(pa.string()))]))
    write_parquet(sent, out / "sentiment.parquet", pa.schema([("text", pa.string()), ("label", pa.int64())]))
    write_csv(topics, out / "topics.csv", ["text", "topic"])
    pairs = pa.schema([("sentence1", pa.string()), ("sentence2", pa.string()), ("score", pa.float64())])
    write_parquet(similarity, out / "similarity.parquet", pairs)

    scores = None if args.no_check else learnability(dei, sent, topics)
    (out / "README.md").write_text(readme(dei, sent, topics, scores), encoding="utf-8")

    mean_k = sum(len(r["labels"]) for r in dei) / len(dei)
    print(f"dei.parquet        {len(dei)} rows, mean {mean_k:.2f} labels/row")
    for lab in DEI_LABELS:
        print(f"    {dei_counts[lab]:4d}  {lab}")
    sc = Counter(r["label"] for r in sent)
    print(f"sentiment.parquet  {len(sent)} rows, positive={sc[1]} negative={sc[0]}")
    tc = Counter(r["topic"] for r in topics)
    print(f"topics.csv         {len(topics)} rows, " + ", ".join(f"{t}={tc[t]}" for t in TOPICS))
    if scores:
        for name, s in scores.items():
            print(f"learnability {name}: {s}")


if __name__ == "__main__":
    main()
