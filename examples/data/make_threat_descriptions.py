"""Generate the threat-description dataset of the threat-classifier example (no downloads).

Every row is a short, security-operations style description of an event and one of four labels:
benign, phishing, malware, intrusion. Descriptions are assembled from templated sentences with
randomised hosts, users, addresses, files and phrasing; ordinary office work (documents opened,
read, printed or shared on internal sites) has sentences of its own, so that it is not told
apart from attacks by missing words alone. To keep accuracy meaningful, the classes
share vocabulary (e-mail, login, file, alert...), a share of rows carries only ambiguous
sentences, words are misspelled at random, and 4% of labels are flipped on purpose.

    python examples/data/make_threat_descriptions.py   # rewrites examples/data/threat-classifier/
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20240611
SPLITS = {"train": 1600, "validation": 300, "test": 300}
LABEL_NOISE = 0.04
TYPO_RATE = 0.03
OUT = Path(__file__).resolve().parent / "threat-classifier"

USERS = [
    "j.smith",
    "a.khan",
    "m.garcia",
    "finance-bot",
    "l.chen",
    "hr-team",
    "svc_backup",
    "r.okafor",
    "it-admin",
    "p.novak",
    "s.ito",
    "k.muller",
]
HOSTS = [
    "WS-0142",
    "LAPTOP-7731",
    "srv-db-02",
    "web-frontend-3",
    "mail-gw-1",
    "build-agent-9",
    "hr-laptop-12",
    "vpn-edge-01",
    "fileserver-2",
    "k8s-node-4",
    "pos-terminal-8",
]
DOMAINS = [
    "paypa1-secure.com",
    "micros0ft-login.net",
    "docusign-review.co",
    "bank-verify.info",
    "office365-auth.org",
    "dropbox-share.io",
    "apple-id-check.com",
    "dhl-parcel-track.net",
]
GOOD_DOMAINS = [
    "github.com",
    "atlassian.net",
    "google.com",
    "company.internal",
    "slack.com",
    "zoom.us",
    "salesforce.com",
]
FILES = [
    "invoice_0423.pdf.exe",
    "payroll.xlsm",
    "setup_update.msi",
    "scan_2291.zip",
    "readme.hta",
    "report.docm",
    "chrome_patch.dll",
    "photo.scr",
]
GOOD_FILES = [
    "q3_budget.xlsx",
    "meeting_notes.docx",
    "release-1.4.2.tar.gz",
    "logo.png",
    "handbook.pdf",
    "backup-2024-05-01.tgz",
]
MALWARE = [
    "Emotet",
    "TrickBot",
    "a Cobalt Strike beacon",
    "LockBit ransomware",
    "AgentTesla",
    "a cryptominer",
    "QakBot",
    "an infostealer",
    "a remote access trojan",
]
PORTS = ["22", "3389", "445", "5432", "8080", "443", "6379", "9200"]
#: everyday office work, so that ordinary activity has words of its own
PERIODS = ["quarterly", "monthly", "annual", "weekly", "daily", "end of year"]
DOCUMENTS = [
    "report",
    "budget",
    "sales figures",
    "presentation",
    "newsletter",
    "roadmap",
    "timesheet",
    "policy document",
    "meeting minutes",
    "team plan",
]
PLACES = [
    "intranet portal",
    "company wiki",
    "shared drive",
    "hr portal",
    "document management system",
    "team site",
    "project workspace",
]
ACCOUNTS = ["root", "admin", "administrator", "service", "domain admin"]


def ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def fill(rng: random.Random, template: str) -> str:
    return template.format(
        user=rng.choice(USERS),
        host=rng.choice(HOSTS),
        domain=rng.choice(DOMAINS),
        good=rng.choice(GOOD_DOMAINS),
        file=rng.choice(FILES),
        goodfile=rng.choice(GOOD_FILES),
        malware=rng.choice(MALWARE),
        port=rng.choice(PORTS),
        period=rng.choice(PERIODS),
        document=rng.choice(DOCUMENTS),
        place=rng.choice(PLACES),
        account=rng.choice(ACCOUNTS),
        ip=ip(rng),
        n=rng.randint(3, 400),
        mins=rng.randint(2, 90),
    )


SENTENCES: dict[str, list[str]] = {
    "phishing": [
        "{user} received an email asking to verify account credentials at {domain}",
        "message impersonating the CEO requests an urgent wire transfer from {user}",
        "link in the email points to {domain} which mimics the corporate login page",
        "{n} employees got a password reset notice from {domain} they did not request",
        "sender display name says IT support but the reply-to address is on {domain}",
        "user clicked a shared document link and was asked to enter their office password",
        "email urges {user} to confirm payroll details before the end of the day",
        "spoofed invoice notification with a login form hosted on {domain}",
        "SMS claims a parcel is waiting and links to {domain} for a delivery fee",
        "{user} reported a suspicious email with a fake sign-in page",
        "lookalike domain {domain} registered two days ago is sending messages to staff",
        "voicemail notification email leads to a credential harvesting page",
    ],
    "malware": [
        "endpoint protection flagged {file} on {host} as {malware}",
        "{host} is beaconing to {ip} every {mins} minutes after {file} was opened",
        "macro in {file} spawned powershell with an encoded command on {host}",
        "files on fileserver-2 are being renamed with a .locked extension",
        "ransom note found on {host} after {user} ran {file}",
        "unsigned binary {file} added a run key for persistence on {host}",
        "{host} CPU at 100 percent due to an unknown process mining cryptocurrency",
        "sandbox detonation of {file} shows {malware} behaviour",
        "scheduled task created by {file} downloads a second stage payload from {ip}",
        "antivirus quarantined {file} but the process had already injected into explorer",
        "hash of {file} matches a known {malware} sample",
        "browser extension installed on {host} exfiltrates saved passwords",
    ],
    "intrusion": [
        "{n} failed ssh logins against {host} from {ip} followed by a success",
        "port scan from {ip} hit {n} hosts on port {port}",
        "new admin account created on {host} outside the change window",
        "{user} logged in from {ip} and from the office {mins} minutes apart",
        "unexpected lateral movement from {host} to srv-db-02 over port {port}",
        "web application firewall blocked SQL injection attempts from {ip}",
        "brute force against the vpn gateway from {ip} with {n} attempts",
        "privileged account {user} used mimikatz style credential dumping on {host}",
        "database dump of {n} MB transferred from srv-db-02 to {ip}",
        "exploit attempt against an unpatched service on {host} port {port}",
        "kubernetes api accessed with a stolen service account token from {ip}",
        "rdp session to {host} from an unknown address {ip} at 3am",
        "multiple failed ssh logins from an unknown address, then a successful {account} login",
        "successful {account} login on {host} right after repeated failed logins from {ip}",
        "{n} failed login attempts on {host} from an unknown address before the {account} "
        "account got in",
    ],
    "benign": [
        "{user} downloaded {goodfile} from {good} as part of the weekly report",
        "scheduled backup job on fileserver-2 completed in {mins} minutes",
        "{user} reset their password through the self service portal",
        "software update pushed to {n} laptops by the IT team",
        "{user} logged in from the office network as usual",
        "newsletter email from {good} delivered to all staff",
        "certificate for {good} renewed automatically",
        "vulnerability scanner ran its approved weekly scan of {n} hosts",
        "{host} rebooted after applying the monthly patches",
        "{user} shared {goodfile} with the finance team on {good}",
        "new laptop {host} enrolled in device management",
        "planned maintenance on the vpn gateway finished without issues",
        "{user} opened the {period} {document} from the {place}",
        "{user} viewed the {document} on the {place} during working hours",
        "{user} printed the {period} {document} for the team meeting",
        "{user} updated the {period} {document} in the {place}",
        "user browsed the {place} and read the {period} {document}",
        "{user} uploaded the {document} to the {place} as usual",
    ],
}
AMBIGUOUS = [
    "{user} reported unusual activity on {host}",
    "security alert raised for {host}, triage pending",
    "ticket opened after {user} noticed something odd with their email",
    "the soc analyst escalated the event involving {host}",
    "login activity for {user} looks different from last week",
    "a file on {host} was flagged for review",
    "traffic to {ip} increased during the night",
    "{user} asked whether the message they received was legitimate",
]
OPENERS = ["", "", "", "alert: ", "incident report - ", "fyi ", "urgent: ", "helpdesk note: "]


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 4 or rng.random() > TYPO_RATE:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def describe(rng: random.Random, label: str) -> str:
    own = [fill(rng, t) for t in rng.sample(SENTENCES[label], rng.choice([1, 1, 2]))]
    extra: list[str] = []
    if rng.random() < 0.35:
        extra.append(fill(rng, rng.choice(AMBIGUOUS)))
    if rng.random() < 0.15:  # a sentence from another class blurs the line
        other = rng.choice([c for c in SENTENCES if c != label])
        extra.append(fill(rng, rng.choice(SENTENCES[other])))
    if rng.random() < 0.08:  # little evidence at all
        own = own[:0]
        extra = [fill(rng, rng.choice(AMBIGUOUS)), fill(rng, rng.choice(SENTENCES[label]))][
            : rng.choice([1, 2])
        ]
    sentences = own + extra
    rng.shuffle(sentences)
    text = rng.choice(OPENERS) + ". ".join(sentences)
    return " ".join(typo(rng, w) for w in text.split())


def rows(rng: random.Random, count: int) -> list[tuple[str, str]]:
    labels = list(SENTENCES)
    out = []
    for _ in range(count):
        label = rng.choice(labels)
        text = describe(rng, label)
        if rng.random() < LABEL_NOISE:
            label = rng.choice([c for c in labels if c != label])
        out.append((text, label))
    return out


def main() -> None:
    rng = random.Random(SEED)  # noqa: S311 (reproducible example data, not security)
    OUT.mkdir(parents=True, exist_ok=True)
    for split, count in SPLITS.items():
        with (OUT / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["description", "label"])
            writer.writerows(rows(rng, count))
        print(f"wrote {OUT / f'{split}.csv'} ({count} rows)")


if __name__ == "__main__":
    main()
