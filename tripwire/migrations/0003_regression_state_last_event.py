from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tripwire", "0002_regression_models"),
    ]

    operations = [
        migrations.AddField(
            model_name="regressionstate",
            name="throttled",
            field=models.BooleanField(
                default=False, help_text="A THROTTLE fired since the last acknowledgement."
            ),
        ),
        migrations.AddField(
            model_name="regressionstate",
            name="last_event_id",
            field=models.BigIntegerField(
                blank=True, help_text="Newest event of the last evaluated window.", null=True
            ),
        ),
    ]
