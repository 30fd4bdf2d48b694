"""Stage `figures`: paired statistics, the paper-claim rules, the report and the plots."""
