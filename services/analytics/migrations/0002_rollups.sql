-- Rollups of fact, kept in the same transaction as fact itself, so that a
-- dashboard query over millions of events sums thousands of rows: per day
-- by institution and flag only, and per month (day = the month's first) by
-- institution and either the patient's attributes or the code. The store
-- answers from the smallest table that has every dimension a query uses.
CREATE TABLE fact_day_institution (
  measure smallint NOT NULL,
  day date NOT NULL,
  institution text NOT NULL,
  district text NOT NULL,
  institution_type text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, institution, flag)
);

CREATE TABLE fact_month_person (
  measure smallint NOT NULL,
  day date NOT NULL,
  institution text NOT NULL,
  district text NOT NULL,
  institution_type text NOT NULL,
  age_band text NOT NULL,
  sex text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, institution, age_band, sex, flag)
);

CREATE TABLE fact_month_code (
  measure smallint NOT NULL,
  day date NOT NULL,
  institution text NOT NULL,
  district text NOT NULL,
  institution_type text NOT NULL,
  code text NOT NULL,
  code_group text NOT NULL,
  flag text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (measure, day, institution, code, flag)
);
