-- Which known patients (by pseudonym) have been diagnosed with a condition
-- the health authority follows (hypertension, diabetes), and since when:
-- the numerators of prevalence among linked patients.
CREATE TABLE patient_condition (
  pseudonym text NOT NULL,
  condition text NOT NULL,
  first_day date NOT NULL,
  PRIMARY KEY (pseudonym, condition)
);
CREATE INDEX patient_condition_by_condition ON patient_condition (condition, first_day);
