#!/usr/bin/env python3
"""Synthetic Chinese patient registrations with realistic errors and truth.

  tools/meridian gen patients --count N [--dup-rate R] [--seed S] [--out FILE]

Writes CSV (stdout by default): truth_id, organisation_id, local_id,
family_name, given_name, sex, birth_date, phone, address_line,
district_code, resident_id, insurance_no. Every person is invented: names
are drawn from character frequency lists, resident IDs are generated with a
correct MOD 11-2 check character for invented sequence numbers.

A person is registered once, plus (with probability --dup-rate) 1-3 more
times at other institutions, each copy with some of the errors seen in real
registries: a homophone character in the name, day and month swapped, one
wrong phone digit, a moved address, the colloquial form of a given name
(小明 / 阿明 for 明), a missing resident ID (children usually have none) or
a missing phone. Twins (same family name, birth date, address and phone,
different given names) are generated on purpose: they must not be linked.
"""
import argparse
import csv
import random
import sys

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
            "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏"
            "韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
# Weights: the first surnames are far more common (term frequencies matter).
SURNAME_WEIGHTS = [max(1.0, 30.0 / (i + 1)) for i in range(len(SURNAMES))]
GIVEN_CHARS = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英玉兰萍毅浩"
               "宇轩子涵欣怡梓晨佳琪雨萱俊博文瑞思琳嘉豪晓彤志鹏建华海燕红梅慧"
               "婷雪颖晶鑫宏斌辉春玲丹凤")
# Characters read the same (toneless pinyin) as each other.
HOMOPHONES = ["丽莉俐", "伟玮韦", "张章", "陈晨", "林琳霖", "静晶靖", "明鸣铭",
              "华桦", "娟鹃", "芳方", "军君", "平萍苹", "刚钢", "红虹宏洪",
              "英瑛莹", "敏闽", "杰洁捷", "磊蕾", "强蔷", "涛韬", "燕艳雁",
              "鹏朋", "辉晖", "玲铃", "婷亭", "欣馨", "瑞睿", "浩皓", "宇雨"]
HOMOPHONE_OF = {}
for group in HOMOPHONES:
    for ch in group:
        HOMOPHONE_OF[ch] = [c for c in group if c != ch]
DISTRICTS = ["330102", "330105", "330106", "330108", "330109", "330110",
             "330111", "330112", "330122", "330127"]
STREETS = ["幸福路", "人民路", "解放路", "建设路", "文一路", "庆春路", "延安路",
           "凤起路", "天目山路", "中山北路", "河畔街", "山景路", "学院路"]
ORGS = ["city-hosp-1", "city-tcm-hosp", "county-hosp-east", "county-hosp-west",
        "thc-riverside", "thc-hillview", "pharm-central", "pharm-east",
        "lab-regional"]
WEIGHTS = [7, 7, 8, 8, 10, 10, 3, 3, 3]


def check_char(first17):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    s = sum(int(c) * w for c, w in zip(first17, weights))
    return "10X98765432"[s % 11]


def resident_id(rng, district, birth, male):
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = district + birth + "%03d" % seq
    return first17 + check_char(first17)


def person(rng, pid):
    male = rng.random() < 0.5
    year = rng.randrange(1930, 2025)
    birth = "%04d%02d%02d" % (year, rng.randrange(1, 13), rng.randrange(1, 29))
    district = rng.choice(DISTRICTS)
    given = "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice([1, 2, 2, 2])))
    child = year >= 2010
    return {
        "truth_id": pid,
        "family_name": rng.choices(SURNAMES, SURNAME_WEIGHTS)[0],
        "given_name": given,
        "sex": "M" if male else "F",
        "birth_date": birth,
        "phone": "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
        "address_line": "%s%d号%d室" % (rng.choice(STREETS), rng.randrange(1, 400),
                                        rng.randrange(101, 2500)),
        "district_code": district,
        # Children rarely carry a resident ID at registration.
        "resident_id": "" if child and rng.random() < 0.8 else resident_id(rng, district, birth, male),
        "insurance_no": "" if rng.random() < 0.3 else "YB%010d" % rng.randrange(10**10),
    }


def with_errors(rng, p):
    q = dict(p)
    errors = rng.sample(["homophone", "swap", "phone", "moved", "nickname",
                         "no_id", "no_phone", "no_insurance"], k=rng.choice([1, 1, 2, 2, 3]))
    for e in errors:
        if e == "homophone":
            chars = list(q["given_name"])
            spots = [i for i, c in enumerate(chars) if c in HOMOPHONE_OF]
            if spots:
                i = rng.choice(spots)
                chars[i] = rng.choice(HOMOPHONE_OF[chars[i]])
                q["given_name"] = "".join(chars)
        elif e == "swap":
            b = q["birth_date"]
            if int(b[6:8]) <= 12:
                q["birth_date"] = b[:4] + b[6:8] + b[4:6]
                # A registry would refuse an ID contradicting the date.
                q["resident_id"] = ""
        elif e == "phone" and q["phone"]:
            i = rng.randrange(3, 11)
            q["phone"] = q["phone"][:i] + str((int(q["phone"][i]) + 1) % 10) + q["phone"][i + 1:]
        elif e == "moved":
            q["address_line"] = "%s%d号" % (rng.choice(STREETS), rng.randrange(1, 400))
            q["district_code"] = rng.choice(DISTRICTS)
        elif e == "nickname" and len(q["given_name"]) == 1:
            q["given_name"] = rng.choice(["小", "阿"]) + q["given_name"]
        elif e == "no_id":
            q["resident_id"] = ""
        elif e == "no_phone":
            q["phone"] = ""
        elif e == "no_insurance":
            q["insurance_no"] = ""
    return q


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True, help="distinct people")
    ap.add_argument("--dup-rate", type=float, default=0.3)
    ap.add_argument("--twin-rate", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    fields = ["truth_id", "organisation_id", "local_id", "family_name", "given_name",
              "sex", "birth_date", "phone", "address_line", "district_code",
              "resident_id", "insurance_no"]
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    local = {org: 0 for org in ORGS}

    def emit(rec, org):
        local[org] += 1
        row = dict(rec)
        row["organisation_id"] = org
        row["local_id"] = "%s-%d-%07d" % (org.split("-")[0].upper(), args.seed, local[org])
        w.writerow(row)

    pid = 0
    for _ in range(args.count):
        pid += 1
        p = person(rng, "P%08d" % pid)
        orgs = rng.sample(ORGS, k=4)
        emit(p, orgs[0])
        if rng.random() < args.dup_rate:
            for org in orgs[1:1 + rng.choice([1, 1, 2, 3])]:
                emit(with_errors(rng, p), org)
        if rng.random() < args.twin_rate:
            pid += 1
            twin = dict(p)
            twin["truth_id"] = "P%08d" % pid
            twin["given_name"] = rng.choice([c for c in GIVEN_CHARS if c not in p["given_name"]])
            male = rng.random() < 0.5
            twin["sex"] = "M" if male else "F"
            twin["resident_id"] = ("" if not p["resident_id"] else
                                   resident_id(rng, p["district_code"], p["birth_date"], male))
            twin["insurance_no"] = "" if rng.random() < 0.3 else "YB%010d" % rng.randrange(10**10)
            emit(twin, orgs[0])
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
