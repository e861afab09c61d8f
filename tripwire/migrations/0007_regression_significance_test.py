from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tripwire", "0006_drift_beat_schedules")]

    operations = [
        migrations.AddField(
            model_name="regressionpolicy",
            name="significance_test",
            field=models.CharField(
                choices=[
                    ("t_test", "Welch t-test (means)"),
                    ("mann_whitney", "Mann-Whitney U (ranks; robust to outliers and skew)"),
                ],
                default="t_test",
                max_length=16,
            ),
        ),
    ]
